/**
 * An agent without SPIRE, end to end: it holds only a Kubernetes service-account token,
 * exchanges it at keybroker's TokenService for a gateway token, and calls a provider
 * through real Envoy (the shipped egress-gateway.yaml, token listener) with the
 * unmodified `openai` npm client (scripts/demo-agent.ts). The provider gets keybroker's
 * key and neither token; a token downscoped elsewhere and an expired one are refused
 * before anything is forwarded.
 */
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { stringify } from 'yaml';
import { baseConfig, startTestBroker, TEST_KEYS, type TestBroker } from '../helpers/broker.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.ts';
import { fakeProviderValues, freePort, startEnvoy, type RunningEnvoy } from '../helpers/envoy.ts';
import { CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';
import { ROOT } from '../helpers/process.ts';
import { makeSigner, mint, writeBundle } from '../helpers/tokens.ts';
import { connectTokenService, type TokenClient } from '../../src/tokens/client.ts';

const run = promisify(execFile);
const KUBE_ISSUER = 'https://kubernetes.default.svc.cluster.local';

describe('an agent with only a Kubernetes service-account token, through real Envoy', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-e2e-gw-'));
  const trust = createCa('example.org', dir);
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['localhost', 'gateway.local'] });
  const providerCa = createCa('providers', dir);
  const openaiCert = providerCa.issue('api.openai.com', { dns: ['api.openai.com'] });
  const anthropicCert = providerCa.issue('api.anthropic.com', { dns: ['api.anthropic.com'] });
  let broker: TestBroker;
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let envoy: RunningEnvoy;
  let tokens: TokenClient;
  let serviceAccountToken: string;
  const outputs: string[] = [];

  /** The unmodified openai SDK, configured as any OpenAI application is: by environment. */
  async function agent(apiKey: string): Promise<{ status: number; body: unknown }> {
    const { stdout } = await run(process.execPath, [join(ROOT, 'scripts/demo-agent.ts')], {
      timeout: 60_000,
      env: { ...process.env, OPENAI_BASE_URL: `https://localhost:${envoy.tokenPort}/openai/v1`, OPENAI_API_KEY: apiKey, NODE_EXTRA_CA_CERTS: trust.certFile },
    });
    outputs.push(stdout);
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as { status: number; body: unknown };
  }

  before(async () => {
    openai = await startFakeProvider('openai', openaiCert);
    anthropic = await startFakeProvider('anthropic', anthropicCert);
    const kube = await makeSigner('cluster-1');
    writeBundle(join(dir, 'cluster.jwks'), [kube]);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const config = baseConfig();
    (config['destinations'] as Record<string, { authorities: string[] }>)['openai']!.authorities = ['localhost', 'gateway.local'];
    config['issuers'] = [{ kind: 'kubernetes', name: 'cluster', issuer: KUBE_ISSUER, jwks: { file: join(dir, 'cluster.jwks') }, audiences: ['keybroker'], trustDomain: 'example.org' }];
    const tokenPort = await freePort();
    config['gatewayTokens'] = { listen: `127.0.0.1:${tokenPort}`, signingKey: 'keybroker/token-signing', ttl: '5m', clockSkew: '1s' };
    const keys = stringify({ ...TEST_KEYS, 'keybroker/token-signing': JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d }) });
    broker = await startTestBroker({ dir, config, keys });
    envoy = await startEnvoy(dir, {
      GATEWAY_CERT: gateway.certFile,
      GATEWAY_KEY: gateway.keyFile,
      AGENT_CA: trust.certFile,
      TRUST_DOMAIN: 'example.org',
      KEYBROKER_SOCKET: broker.broker.address.replace('unix://', ''),
      ...fakeProviderValues(providerCa.certFile, openai.port, anthropic.port),
    });
    tokens = connectTokenService(broker.broker.tokenAddress!, credentials.createInsecure());
    // What the kubelet projects into the agent's pod: audience keybroker, an hour long.
    serviceAccountToken = await mint(kube, {
      sub: 'system:serviceaccount:research:summarizer',
      ttlSeconds: 3600,
      claims: { iss: KUBE_ISSUER, 'kubernetes.io': { namespace: 'research', serviceaccount: { name: 'summarizer', uid: 'c0ffee' } } },
    });
  });

  after(async () => {
    tokens?.close();
    await envoy?.stop();
    await broker?.stop();
    await openai?.close();
    await anthropic?.close();
    for (const output of outputs) expectNoCanary(output, 'what the agent received');
    expectNoCanary(broker?.logs.text() ?? '', 'keybroker log');
  });

  it('exchanges the service-account token and calls OpenAI through Envoy with the openai client', async () => {
    const { access_token: token, expires_in } = await tokens.exchangeServiceAccountToken(serviceAccountToken);
    expect(expires_in).to.equal(300);
    const answer = await agent(token);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    const upstream = openai.received.at(-1)!;
    expect(upstream.path).to.equal('/v1/chat/completions');
    expect(openai.headerValues(upstream, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
    const sent = JSON.stringify(upstream.headers);
    expect(sent).to.not.include(token.split('.')[2]);
    expect(sent).to.not.include(serviceAccountToken.split('.')[2]);
    const decision = broker.logs
      .lines()
      .filter((l) => l['decision'])
      .at(-1)!['decision'] as Record<string, unknown>;
    expect(decision).to.include({ decision: 'allow', identity: 'spiffe://example.org/ns/research/sa/summarizer', proof: 'gateway-token' });
  });

  it('refuses a token downscoped to another destination, and one replayed after expiry, forwarding nothing', async () => {
    const lastReason = () =>
      (
        broker.logs
          .lines()
          .filter((l) => l['decision'])
          .at(-1)!['decision'] as Record<string, unknown>
      )['reason'];
    const before = openai.received.length;
    const scoped = await tokens.exchangeServiceAccountToken(serviceAccountToken, { scope: ['tools'] });
    const refused = await agent(scoped.access_token);
    expect(refused.status).to.equal(403);
    expect(lastReason()).to.equal('scope_exceeded');
    const expired = await tokens.exchangeServiceAccountToken(serviceAccountToken, { requested_ttl_seconds: 1 });
    // Past exp and the 1 s of clock skew this configuration allows.
    const exp = (decodeJwt(expired.access_token).exp as number) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp - Date.now()) + 2100));
    const late = await agent(expired.access_token);
    expect(late.status).to.equal(401);
    expect(lastReason()).to.equal('token_expired');
    expect(openai.received.length, 'a refused request reached the provider').to.equal(before);
  });
});
