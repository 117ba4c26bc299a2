/**
 * Row (a) as bench/run.ts measures it, for the scripts that look at it alone: the
 * configuration (10 grants, a file key store, `listen` on a socket in `dir`) and the
 * CheckRequest Envoy sends for it (mTLS principal and the SVID, URL-encoded, as with
 * `include_peer_certificate`). With `inspect`, row (h): the research grant's body
 * conditions, and the 2 KB chat body Envoy sends on a route with `with_request_body`.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { authorizationService } from '../src/envoy/proto.ts';
import { createCa } from '../scripts/dev-pki.ts';

const RESEARCH = 'spiffe://bench.local/agent/research';

/** The research grant's body conditions in (h). */
export const BODY_CONDITIONS = { models: ['gpt-4o-mini', 'gpt-4.1-*'], maxOutputTokens: 4096, tools: ['search_*'] };

/** (h)'s 2 KB chat completion. */
export const CHAT_BODY = Buffer.from(
  JSON.stringify({
    model: 'gpt-4o-mini',
    max_tokens: 512,
    temperature: 0.2,
    tools: [
      { type: 'function', function: { name: 'search_docs', description: 'Search the documentation', parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } } },
    ],
    messages: [
      { role: 'system', content: 'You are a careful research assistant. Answer from the documents given; say when they do not cover the question. '.repeat(4) },
      { role: 'user', content: 'Summarise the attached notes on the migration plan, listing the risks and who owns each one. '.repeat(12) },
    ],
  }),
);

/** Writes `NAME.yaml` (listening on `NAME.sock`) in `dir`, and the key file beside it. */
export function aConfig(dir: string, name: string, inspect = false): string {
  writeFileSync(join(dir, 'keys.yaml'), 'openai/prod: sk-bench-not-a-real-key\n', { mode: 0o600 });
  chmodSync(join(dir, 'keys.yaml'), 0o600);
  const policy: unknown[] = Array.from({ length: 9 }, (_, i) => ({
    id: `filler-${i}`,
    identities: [`spiffe://bench.local/team-${i}/agent-${i}`],
    destinations: ['openai'],
    methods: ['POST'],
    paths: ['/v1/chat/completions'],
  }));
  policy.push({ id: 'research', identities: [RESEARCH], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions', '/v1/embeddings'], ...(inspect ? BODY_CONDITIONS : {}) });
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      listen: `unix://${join(dir, `${name}.sock`)}`,
      trust: { 'bench.local': {} },
      keys: { store: 'file', file: join(dir, 'keys.yaml') },
      destinations: { openai: { upstream: 'api.openai.com', authorities: ['gateway.local'], routePrefix: '/openai', inject: 'openai', key: 'openai/prod', ...(inspect ? { api: 'openai' } : {}) } },
      policy,
    }),
  );
  return file;
}

/** The encoded CheckRequest (no gRPC framing), with an SVID issued by a CA made in `dir`. */
export function aRequest(dir: string, body?: Buffer): Buffer {
  const svid = createCa('bench', dir).issue('research', { uris: [RESEARCH] });
  return researchRequest(svid.cert, body);
}

/** (a)'s CheckRequest from the research agent, with its SVID (PEM) when given, and a body. */
export function researchRequest(certificate?: string, body?: Buffer): Buffer {
  return authorizationService()['Check']!.requestSerialize({
    attributes: {
      source: { principal: RESEARCH, ...(certificate ? { certificate: encodeURIComponent(certificate) } : {}) },
      request: {
        http: {
          id: '1',
          method: 'POST',
          path: '/openai/v1/chat/completions',
          host: 'gateway.local',
          headers: {
            ':method': 'POST',
            ':path': '/openai/v1/chat/completions',
            ':authority': 'gateway.local',
            ':scheme': 'https',
            'content-type': 'application/json',
            'user-agent': 'OpenAI/Python 1.54.0',
            'x-request-id': '0f9c4b2e-5a8d-4c1e-9b7a-3d2e1f0a9b8c',
            ...(body ? { 'content-length': String(body.length), 'x-envoy-auth-partial-body': 'false' } : {}),
          },
          ...(body ? { raw_body: body } : {}),
        },
      },
      context_extensions: { destination: 'openai' },
    },
  }) as Buffer;
}
