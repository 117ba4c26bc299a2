/**
 * examples/destinations/: every snippet passes `keybroker validate`, and every one, served
 * by a real keybroker (its key store swapped for a key file of test keys, its OAuth2 token
 * endpoint for a local one), allows its first grant and puts the key where the snippet says.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validate } from '../../src/cli/validate.ts';
import { ROOT } from '../helpers/process.ts';
import { startTestBroker } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { startTokenEndpoint, type TokenEndpoint } from '../helpers/token-endpoint.ts';

const DIR = join(ROOT, 'examples/destinations');
const SNIPPETS = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const KEY_VALUE = 'test-key_for.catalogue-0f3a';

interface Snippet {
  teams?: Record<string, string[]>;
  destinations: Record<string, { routePrefix?: string; key: string; inject: unknown }>;
  policy: Array<{ identities: string[]; destinations: string[]; methods: string[]; paths: string[]; key?: string }>;
}

/** Test keys for every reference the snippet can ask for, with the fields its templates name. */
function testKeys(snippet: Snippet): Record<string, unknown> {
  const keys: Record<string, unknown> = {};
  const add = (ref: string, inject: unknown) => {
    const [path, field] = ref.split('#') as [string, string | undefined];
    const fields = new Set([...JSON.stringify(inject).matchAll(/\$\{key\.([A-Za-z0-9_-]+)\}/g)].map((m) => m[1]!));
    if (field) fields.add(field);
    const value = fields.size > 0 ? Object.fromEntries([...fields].map((f) => [f, `${KEY_VALUE}-${f}`])) : KEY_VALUE;
    const teams = path.includes('{team}') ? Object.keys(snippet.teams ?? {}) : [undefined];
    for (const team of teams) keys[team ? path.replaceAll('{team}', team) : path] = value;
  };
  for (const d of Object.values(snippet.destinations)) add(d.key, d.inject);
  for (const rule of snippet.policy) if (rule.key) add(rule.key, Object.values(snippet.destinations)[0]!.inject);
  return keys;
}

describe('the destinations catalogue (examples/destinations/)', function () {
  this.timeout(60_000);
  let endpoint: TokenEndpoint;
  before(async () => {
    endpoint = await startTokenEndpoint();
  });
  after(() => endpoint.close());

  it('has a snippet for every provider the docs promise', () => {
    for (const name of ['openai', 'azure-openai', 'anthropic', 'gemini', 'mistral', 'cohere', 'github', 'github-mcp', 'slack', 'stripe', 'twilio', 'mcp-oauth2', 'google-maps', 'per-team']) {
      expect(SNIPPETS, name).to.include(`${name}.yaml`);
    }
  });

  for (const file of SNIPPETS) {
    it(`${file}: passes keybroker validate, and its first grant gets the key injected`, async () => {
      const path = join(DIR, file);
      expect(validate(path).destinations).to.be.greaterThan(0);

      const snippet = parse(readFileSync(path, 'utf8')) as Snippet;
      const config = { ...snippet, keys: { store: 'file', file: './keys.yaml' } } as unknown as Snippet & Record<string, unknown>;
      for (const d of Object.values(config.destinations)) {
        const inject = d.inject as { oauth2?: Record<string, unknown> };
        if (typeof inject === 'object' && inject.oauth2) inject.oauth2 = { ...inject.oauth2, tokenUrl: endpoint.url };
      }
      const t = await startTestBroker({ config, keys: testKeys(snippet) as Record<string, string> });
      try {
        const rule = snippet.policy[0]!;
        const name = rule.destinations[0]!;
        const destination = snippet.destinations[name]!;
        const response = await t.check(
          envoyCheckRequest({
            principal: rule.identities[0]!.replace(/\/\*$/, '/agent'),
            destination: name,
            method: rule.methods[0] === '*' ? 'GET' : rule.methods[0]!,
            path: `${destination.routePrefix ?? ''}${rule.paths[0]!.replace(/\*$/, 'x')}`,
          }),
        );
        expect(response.status.code, response.denied_response?.body).to.equal(0);
        const set = [...(response.ok_response?.headers ?? []).map((h) => h.header.value), ...(response.ok_response?.query_parameters_to_set ?? []).map((q) => q.value)];
        const decoded = set.map((v) => (v.startsWith('Basic ') ? Buffer.from(v.slice(6), 'base64').toString() : v));
        const expected = (destination.inject as { oauth2?: unknown }).oauth2 ? endpoint.lastToken() : KEY_VALUE;
        expect(
          decoded.some((v) => v.includes(expected)),
          `${file} injects its key: ${JSON.stringify(decoded)}`,
        ).to.equal(true);
      } finally {
        await t.stop();
      }
    });
  }
});
