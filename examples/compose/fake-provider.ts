/**
 * docker-compose's stand-in for api.openai.com (8443), api.anthropic.com (8444) and an MCP
 * server, mcp.example.org (8445), with the certificates examples/compose/setup.ts made for
 * those names, and a plain HTTP view of what they received on 8080 (`GET /received`):
 * credential headers shown by fingerprint only, as keybroker's key ids are.
 *
 *   node examples/compose/fake-provider.ts PKI_DIR
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeProvider, type FakeProvider } from '../../scripts/fake-provider.ts';

const CREDENTIAL_HEADERS = new Set(['authorization', 'x-api-key', 'api-key', 'proxy-authorization']);

const fingerprint = (value: string) => `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 16)}`;

export function describeReceived(providers: readonly FakeProvider[]): unknown[] {
  return providers.flatMap((provider) =>
    provider.received.map((r) => ({
      provider: provider.name,
      method: r.method,
      path: r.path,
      headers: r.headers.map(([name, value]) => [name, CREDENTIAL_HEADERS.has(name) ? `<${fingerprint(value)}>` : value]),
    })),
  );
}

const pki = process.argv[2];
if (!pki) {
  console.error('usage: node examples/compose/fake-provider.ts PKI_DIR');
  process.exit(2);
}
const certificate = (name: string) => ({ cert: readFileSync(join(pki, `${name}.crt`), 'utf8'), key: readFileSync(join(pki, `${name}.key`), 'utf8') });
const providers = [
  await startFakeProvider('openai', certificate('api.openai.com'), undefined, { host: '0.0.0.0', port: 8443 }),
  await startFakeProvider('anthropic', certificate('api.anthropic.com'), undefined, { host: '0.0.0.0', port: 8444 }),
  await startFakeProvider('mcp', certificate('mcp.example.org'), undefined, { host: '0.0.0.0', port: 8445 }),
];
createServer((req, res) => {
  if (req.url !== '/received') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(describeReceived(providers), null, 2)}\n`);
}).listen(8080, '0.0.0.0');
console.error('fake providers on 8443 (api.openai.com), 8444 (api.anthropic.com), 8445 (mcp.example.org); GET :8080/received');
