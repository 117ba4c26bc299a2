/**
 * TRACE through real Envoy to a tool granted `methods: ["*"]`: a server that answers TRACE
 * (Apache httpd does by default, `TraceEnable on`) echoes the request it received — with
 * the key keybroker injected — back to the agent. keybroker never lets one through.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

const ROUTE = toolRoute('tool', 'tool', 'tools.example');

describe('methods that echo the request never reach an upstream with the key', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-open-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: ['spiffe://example.org/ns/research/summarizer'] });
  const providerCa = createCa('providers');
  const toolCert = providerCa.issue('tools.example', { dns: ['tools.example'] });
  let broker: TestBroker;
  let envoy: RunningEnvoy;
  let tool: Server;
  const received: string[] = [];

  before(async () => {
    // As Apache httpd answers TRACE: the request it received, headers and all, as the body.
    tool = createServer({ cert: toolCert.cert, key: toolCert.key }, (req, res) => {
      received.push(req.method ?? '');
      if (req.method === 'TRACE' || req.method === 'TRACK') {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        res.writeHead(200, { 'content-type': 'message/http' }).end(`${lines.join('\r\n')}\r\n\r\n`);
      } else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => tool.listen(0, '127.0.0.1', r));
    const config = baseConfig();
    (config['destinations'] as Record<string, unknown>)['tool'] = {
      upstream: 'tools.example',
      authorities: ['gateway.local'],
      routePrefix: '/tool',
      inject: { header: 'x-tool-token', value: 'Token ${key}' },
      key: 'tool/key',
    };
    (config['policy'] as unknown[]).push({ id: 'research-tool', identities: ['spiffe://example.org/ns/research/*'], destinations: ['tool'], methods: ['*'], paths: ['/*'] });
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
  });

  it('denies TRACE on a grant of every method, recorded with the identity, and forwards nothing', async () => {
    const ok = await agentRequest({ port: envoy.port, gatewayCa: trust.cert, svid: research, method: 'GET', path: '/tool/search' });
    expect(ok.status, ok.body).to.equal(200);
    const trace = await agentRequest({ port: envoy.port, gatewayCa: trust.cert, svid: research, method: 'TRACE', path: '/tool/search', body: '' });
    expectNoCanary(JSON.stringify(trace), 'the answer to TRACE');
    expect(trace.status, trace.body).to.equal(403);
    expect(JSON.parse(trace.body)).to.include({ reason: 'method_not_forwarded' });
    // Envoy's HTTP/1 codec refuses TRACK itself (400); keybroker would too (check.test.ts).
    const track = await agentRequest({ port: envoy.port, gatewayCa: trust.cert, svid: research, method: 'TRACK', path: '/tool/search', body: '' });
    expectNoCanary(JSON.stringify(track), 'the answer to TRACK');
    expect(track.status).to.be.oneOf([400, 403]);
    expect(received).to.deep.equal(['GET']);
    const decision = broker.logs
      .lines()
      .filter((l) => l['decision'])
      .at(-1)!['decision'] as Record<string, unknown>;
    expect(decision).to.include({ reason: 'method_not_forwarded', method: 'TRACE', identity: 'spiffe://example.org/ns/research/summarizer' });
  });
});
