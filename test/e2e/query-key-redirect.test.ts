/**
 * A key injected as a query parameter comes back to the agent whenever the upstream
 * reflects the request URL: a trailing-slash redirect does so by default in
 * FastAPI/Starlette (`redirect_slashes`), Django (`APPEND_SLASH`) and many others, and
 * `Location` carries the query, key included. keybroker's Check answer cannot rewrite the
 * upstream's response, so docs/credentials.md tells operators to drop `location`,
 * `content-location` and `refresh` on such a destination's route. This holds that
 * setting to its promise with a real Envoy and a FastAPI-like upstream: the agent never
 * sees the canary key. (Without the setting the key leaks — the remaining gap.)
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { fakeProviderValues, gatewayValues, GATEWAY_TEMPLATE, startEnvoy, type RunningEnvoy } from '../helpers/envoy.ts';
import { agentRequest } from '../helpers/agent.ts';
import { toolRoute, withToolRoutes } from '../helpers/tool-routes.ts';
import { CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';

const ROUTE = toolRoute('tool', 'tool', 'tools.example', ['response_headers_to_remove: [location, content-location, refresh]']);

describe('a query-injected key and an upstream that reflects its URL', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-query-key-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: ['spiffe://example.org/ns/research/summarizer'] });
  const providerCa = createCa('providers');
  const toolCert = providerCa.issue('tools.example', { dns: ['tools.example'] });
  let broker: TestBroker;
  let envoy: RunningEnvoy;
  let tool: Server;

  before(async () => {
    // A FastAPI-like tool server: "/search/" redirects to "/search", keeping the query.
    tool = createServer({ cert: toolCert.cert, key: toolCert.key }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://tools.example');
      if (url.pathname.endsWith('/') && url.pathname !== '/') {
        res.writeHead(307, { location: `https://tools.example${url.pathname.slice(0, -1)}${url.search}` }).end();
      } else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => tool.listen(0, '127.0.0.1', r));
    const config = baseConfig();
    (config['destinations'] as Record<string, unknown>)['tool'] = { upstream: 'tools.example', authorities: ['gateway.local'], routePrefix: '/tool', inject: { query: 'key' }, key: 'tool/key' };
    (config['policy'] as unknown[]).push({ id: 'research-tool', identities: ['spiffe://example.org/ns/research/*'], destinations: ['tool'], methods: ['GET'], paths: ['/search', '/search/'] });
    broker = await startTestBroker({ dir, config, keys: { 'openai/prod': 'x', 'tool/key': CANARY_KEY } });
    const template = join(dir, 'gateway-with-tool.yaml');
    const text = readFileSync(GATEWAY_TEMPLATE, 'utf8');
    writeFileSync(template, withToolRoutes(text, ROUTE));
    envoy = await startEnvoy(
      dir,
      { ...gatewayValues(gateway, trust.certFile, broker.broker.address), ...fakeProviderValues(providerCa.certFile, 9, 9), TOOLS_PORT: (tool.address() as AddressInfo).port },
      template,
    );
  });
  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    await new Promise((r) => tool?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('never hands the agent its key in a redirect, with the route setting docs/credentials.md asks for', async () => {
    const ok = await agentRequest({ port: envoy.port, gatewayCa: trust.cert, svid: research, method: 'GET', path: '/tool/search?q=x' });
    expect(ok.status, ok.body).to.equal(200);
    const redirected = await agentRequest({ port: envoy.port, gatewayCa: trust.cert, svid: research, method: 'GET', path: '/tool/search/?q=x' });
    expect(redirected.status, 'the upstream redirected').to.equal(307);
    expectNoCanary(JSON.stringify(redirected), 'the response the agent received');
  });
});
