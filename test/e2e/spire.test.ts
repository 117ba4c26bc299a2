/**
 * SPIRE issues the identities: SVIDs from a real SPIRE agent's Workload API, through
 * real Envoy taking its own certificate and bundle over SDS, to keybroker trusting
 * SPIRE's bundle (endpoint, https_spiffe profile; and the `bundle show` file).
 */
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest, readDenial } from '../helpers/envoy-request.ts';
import { createCa, type Issued } from '../../scripts/dev-pki.ts';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.ts';
import { ENVOY_BIN, fakeProviderValues, startEnvoy, validateEnvoyConfig, type RunningEnvoy } from '../helpers/envoy.ts';
import { agentRequest } from '../helpers/agent.ts';
import { startSpire, type RunningSpire } from '../helpers/spire.ts';
import { CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';
import { renderTemplate } from '../../envoy/render.ts';
import { ROOT } from '../helpers/process.ts';
import { poll } from '../helpers/poll.ts';

const AGENT_ID = 'spiffe://example.org/ns/research/summarizer';
const ENVOY_ID = 'spiffe://example.org/envoy/egress';

describe('SPIRE-issued identities through real Envoy', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-spire-'));
  let spire: RunningSpire;
  let broker: TestBroker;
  let envoy: RunningEnvoy;
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  const providerCa = createCa('providers');
  let svidDir: string;

  const svid = (): Issued => ({
    certFile: join(svidDir, 'svid.0.pem'),
    keyFile: join(svidDir, 'svid.0.key'),
    cert: readFileSync(join(svidDir, 'svid.0.pem'), 'utf8'),
    key: readFileSync(join(svidDir, 'svid.0.key'), 'utf8'),
  });
  const gatewayCa = () => readFileSync(join(svidDir, 'bundle.0.pem'), 'utf8');
  const call = (headers: Record<string, string> = {}, identity: Issued | undefined = svid()) =>
    agentRequest({ port: envoy.port, gatewayCa: gatewayCa(), gatewaySpiffeId: ENVOY_ID, path: '/openai/v1/chat/completions', headers, ...(identity ? { svid: identity } : {}) });

  before(async () => {
    spire = await startSpire(dir);
    // Registration: the test agent (the spire-agent CLI fetching its SVIDs) and Envoy.
    spire.createEntry(AGENT_ID, `unix:path:${realpathSync(spire.workloadBinary('research-agent'))}`, { x509: 30, jwt: 60 });
    spire.createEntry(ENVOY_ID, `unix:path:${realpathSync(ENVOY_BIN)}`, { x509: 30 });

    const config = baseConfig();
    config['trust'] = {
      'example.org': {
        bundle: { url: spire.bundleEndpoint, format: 'spiffe', ca: join(dir, 'bundle.pem'), spiffeId: 'spiffe://example.org/spire/server', refresh: '5s' },
        audiences: ['keybroker'],
        maxTokenLifetime: '5m',
        clockSkew: '0s',
      },
    };
    (config['destinations'] as Record<string, Record<string, unknown>>)['openai']!['authorities'] = ['gateway.local', '127.0.0.1'];
    broker = await startTestBroker({ dir, config });

    openai = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }));
    anthropic = await startFakeProvider('anthropic', providerCa.issue('api.anthropic.com', { dns: ['api.anthropic.com'] }));
    svidDir = join(dir, 'svid');
    // Entries reach the agent within its sync interval.
    await poll(() => spire.fetchX509(svidDir, spire.workloadBinary('research-agent')), { timeoutMs: 30_000, intervalMs: 1000 });
    envoy = await startEnvoy(dir, spireEnvoyValues(), join(ROOT, 'envoy/egress-gateway-spire.yaml'));
    // Envoy's listener serves once SDS has delivered its SVID.
    await poll(
      async () => {
        const r = await call().catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status !== 200) throw new Error(`${r.status} ${r.body}`);
      },
      { timeoutMs: 30_000, intervalMs: 500, describe: (last) => new Error(`the gateway never answered 200: ${(last as Error).message}\n${envoy.process.output()}`) },
    );
  });

  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    await openai?.close();
    await anthropic?.close();
    await spire?.stop();
    expectNoCanary(broker.logs.text(), 'keybroker log');
  });

  function spireEnvoyValues() {
    return {
      ENVOY_SPIFFE_ID: ENVOY_ID,
      TRUST_DOMAIN: 'example.org',
      SPIRE_AGENT_SOCKET: spire.agentSocket,
      KEYBROKER_SOCKET: broker.broker.address.replace('unix://', ''),
      ...fakeProviderValues(providerCa.certFile, openai.port, anthropic.port),
    };
  }

  it('ships an SDS variant that passes envoy --mode validate and differs from the file variant only in where certificates come from', () => {
    const file = join(dir, 'validate-spire.yaml');
    writeFileSync(
      file,
      renderTemplate(readFileSync(join(ROOT, 'envoy/egress-gateway-spire.yaml'), 'utf8'), {
        ...spireEnvoyValues(),
        LISTEN_ADDRESS: '127.0.0.1',
        LISTEN_PORT: 10000,
        TOKEN_LISTEN_PORT: 10001,
        ADMIN_PORT: 9901,
        ACCESS_LOG: join(dir, 'v.log'),
      }),
    );
    expect(validateEnvoyConfig(file)).to.match(/OK/);
    const strip = (text: string) => {
      const doc = parse(text.replace(/\{\{(\w+)\}\}/g, 'X')) as { static_resources: { listeners: Array<{ filter_chains: Array<{ transport_socket?: unknown }> }>; clusters: Array<{ name: string }> } };
      for (const listener of doc.static_resources.listeners) for (const chain of listener.filter_chains) delete chain.transport_socket;
      doc.static_resources.clusters = doc.static_resources.clusters.filter((c) => c.name !== 'spire_agent');
      return doc;
    };
    expect(strip(readFileSync(join(ROOT, 'envoy/egress-gateway-spire.yaml'), 'utf8'))).to.deep.equal(strip(readFileSync(join(ROOT, 'envoy/egress-gateway.yaml'), 'utf8')));
  });

  it('delivers the key for an agent presenting its SPIRE X.509-SVID over mTLS', async () => {
    const before = openai.received.length;
    const response = await call();
    expect(response.status, response.body).to.equal(200);
    const upstream = openai.received.at(-1)!;
    expect(openai.received.length).to.equal(before + 1);
    expect(openai.headerValues(upstream, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
  });

  it('delivers the key for the same agent with its SPIRE JWT-SVID as the bearer token', async () => {
    const token = spire.fetchJwt('keybroker', spire.workloadBinary('research-agent'));
    const response = await call({ authorization: `Bearer ${token}` });
    expect(response.status, response.body).to.equal(200);
    expect(openai.headerValues(openai.received.at(-1)!, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
    // And the token alone identifies the agent (no mTLS principal), verified against SPIRE's bundle.
    const alone = await broker.check(envoyCheckRequest({ principal: '', host: 'gateway.local', headers: { authorization: `Bearer ${token}` } }));
    expect(alone.status.code, JSON.stringify(alone.denied_response)).to.equal(0);
    expect(alone.dynamic_metadata.fields['identity']?.stringValue).to.equal(AGENT_ID);
  });

  it('refuses a JWT-SVID issued for another audience', async () => {
    const token = spire.fetchJwt('someone-else', spire.workloadBinary('research-agent'));
    const response = await call({ authorization: `Bearer ${token}` });
    expect(response.status).to.equal(401);
    expect(readDenial(response.body).reason).to.equal('audience_mismatch');
  });

  it('gives a workload with no registration entry nothing', () => {
    const stranger = spire.workloadBinary('unregistered-workload');
    expect(() => spire.fetchJwt('keybroker', stranger)).to.throw();
    expect(() => spire.fetchX509(join(dir, 'stranger'), stranger)).to.throw();
  });

  it('refuses the tokens of a deleted entry once they expire', async () => {
    const worker = spire.workloadBinary('short-lived-worker');
    const entry = spire.createEntry('spiffe://example.org/ns/research/short-lived', `unix:path:${realpathSync(worker)}`, { jwt: 6 });
    const token = await poll(() => spire.fetchJwt('keybroker', worker), { timeoutMs: 30_000, intervalMs: 1000 });
    const request = () => broker.check(envoyCheckRequest({ principal: '', host: 'gateway.local', headers: { authorization: `Bearer ${token}` } }));
    expect((await request()).status.code).to.equal(0);
    spire.deleteEntry(entry);
    await new Promise((r) => setTimeout(r, 7000));
    expect(deniedBody(await request()).reason).to.equal('token_expired');
    expect(() => spire.fetchJwt('keybroker', worker)).to.throw();
  });

  it('rotates SVIDs (30 s TTL) during a run without a failed request', async () => {
    const firstSerial = serialOf(svid().cert);
    const failures: string[] = [];
    let rotatedAgent = false;
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline && !rotatedAgent) {
      spire.fetchX509(svidDir, spire.workloadBinary('research-agent'));
      rotatedAgent = serialOf(svid().cert) !== firstSerial;
      for (let i = 0; i < 5; i++) {
        const response = await call().catch((e: Error) => ({ status: -1, body: e.message }));
        if (response.status !== 200) failures.push(`${response.status} ${response.body}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(rotatedAgent, 'the agent SVID rotated within the run').to.equal(true);
    expect(failures).to.deep.equal([]);
  });

  it('also verifies JWT-SVIDs against the bundle written by `spire-server bundle show -format spiffe`', async () => {
    writeFileSync(join(dir, 'spire-bundle.json'), spire.bundle('spiffe'));
    const config = baseConfig();
    config['trust'] = { 'example.org': { bundle: { file: join(dir, 'spire-bundle.json'), format: 'spiffe' }, audiences: ['keybroker'], maxTokenLifetime: '5m' } };
    const fileBroker = await startTestBroker({ config });
    try {
      const token = spire.fetchJwt('keybroker', spire.workloadBinary('research-agent'));
      const response = await fileBroker.check(envoyCheckRequest({ principal: '', headers: { authorization: `Bearer ${token}` } }));
      expect(response.status.code, JSON.stringify(response.denied_response)).to.equal(0);
    } finally {
      await fileBroker.stop();
    }
  });
});

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}
