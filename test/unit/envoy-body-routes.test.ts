/**
 * The shipped Envoy configs send the request body to keybroker on exactly the routes
 * whose destination's Checks read it, in the example configuration each is shipped with:
 * elsewhere the body is bytes buffered and carried for nothing, and on a route that lacks
 * it every Check a body rule decides is denied body_unreadable. Where it is sent, it is
 * sent whole (allow_partial_message: false), as bytes, up to keybroker's own limit.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { parseConfigText } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { MAX_BODY_BYTES } from '../../src/inspect/read-body.ts';
import { destinationsReadingBody } from '../../src/pipeline/body-destinations.ts';
import { INSPECT_BODY } from '../helpers/envoy.ts';
import { ROOT } from '../helpers/process.ts';

/** Each shipped Envoy config, and the example configurations it is shipped to run with. */
const PAIRS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['envoy/egress-gateway.yaml', ['examples/keybroker.yaml', 'examples/compose/keybroker.yaml']],
  ['envoy/egress-gateway-spire.yaml', ['deploy/kubernetes/base/keybroker-config.yaml']],
];

/** The ext_authz per-route settings of every route that names a destination: its body settings, if any. */
function bodyRoutes(envoyYaml: string): Map<string, unknown> {
  // Placeholders become plain strings: only the structure is read here.
  const doc = parse(envoyYaml.replace(/\{\{[A-Z0-9_]+\}\}/g, 'placeholder')) as unknown;
  const routes = new Map<string, unknown>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    const perRoute = (record['typed_per_filter_config'] as Record<string, { check_settings?: { context_extensions?: { destination?: string }; with_request_body?: unknown } }> | undefined)?.[
      'envoy.filters.http.ext_authz'
    ];
    const destination = perRoute?.check_settings?.context_extensions?.destination;
    if (destination !== undefined) routes.set(destination, perRoute?.check_settings?.with_request_body);
    Object.values(record).forEach(walk);
  };
  walk(doc);
  return routes;
}

/** Where the routes and the configuration disagree: one line per route. */
function disagreements(routes: ReadonlyMap<string, unknown>, config: Config): string[] {
  const reading = destinationsReadingBody(config);
  const out: string[] = [];
  for (const [destination, body] of routes) {
    if (reading.has(destination) && body === undefined) out.push(`${destination}: its rules read the body, but the route does not send it (every such Check is denied body_unreadable)`);
    if (!reading.has(destination) && body !== undefined) out.push(`${destination}: the route sends the body, but no rule or limit for it reads it`);
    if (body !== undefined && JSON.stringify(body) !== JSON.stringify(INSPECT_BODY)) out.push(`${destination}: with_request_body is ${JSON.stringify(body)}, expected ${JSON.stringify(INSPECT_BODY)}`);
  }
  return out;
}

function loadExample(file: string): Config {
  return parseConfigText(readFileSync(join(ROOT, file), 'utf8'), file, dirname(join(ROOT, file)));
}

describe('Envoy sends the body only where a rule reads it', () => {
  it('the body settings Envoy is given are keybroker limit, whole, as bytes', () => {
    expect(INSPECT_BODY).to.deep.equal({ max_request_bytes: MAX_BODY_BYTES, allow_partial_message: false, pack_as_bytes: true });
  });

  for (const [envoyFile, examples] of PAIRS) {
    for (const example of examples) {
      it(`${envoyFile} agrees with ${example}`, () => {
        const routes = bodyRoutes(readFileSync(join(ROOT, envoyFile), 'utf8'));
        expect([...routes.keys()]).to.include.members(['openai', 'anthropic']);
        expect(disagreements(routes, loadExample(example))).to.deep.equal([]);
      });
    }
  }

  it('finds a route that lacks the body a rule reads, one that sends it for nothing, and other settings', () => {
    const config = loadExample('examples/keybroker.yaml');
    const withModels = {
      ...config,
      destinations: { ...config.destinations, openai: { ...config.destinations['openai']!, api: 'openai' as const } },
      policy: config.policy.map((r) => (r.destinations.includes('openai') ? { ...r, models: ['gpt-4o-mini'] } : r)),
    };
    const routes = new Map<string, unknown>([
      ['openai', undefined],
      ['anthropic', INSPECT_BODY],
      ['mcp', { ...INSPECT_BODY, allow_partial_message: true }],
    ]);
    expect(disagreements(routes, withModels)).to.deep.equal([
      'openai: its rules read the body, but the route does not send it (every such Check is denied body_unreadable)',
      'anthropic: the route sends the body, but no rule or limit for it reads it',
      'mcp: the route sends the body, but no rule or limit for it reads it',
      `mcp: with_request_body is ${JSON.stringify({ ...INSPECT_BODY, allow_partial_message: true })}, expected ${JSON.stringify(INSPECT_BODY)}`,
    ]);
  });

  it('counts a limit that estimates from the body as reading it, where the destination has an api', () => {
    const config = loadExample('examples/keybroker.yaml');
    const limited = {
      ...config,
      destinations: { ...config.destinations, plain: { ...config.destinations['openai']!, api: undefined } },
      limits: { rules: [{ tokens: { output: 100 } }] },
    } as unknown as Config;
    expect([...destinationsReadingBody(limited)].sort()).to.deep.equal(['anthropic', 'openai']);
    expect([...destinationsReadingBody({ ...limited, limits: { rules: [{ requests: { max: 1 } }] } } as unknown as Config)]).to.deep.equal([]);
  });
});
