/**
 * Gateway tokens end to end over real sockets: TokenService/Exchange on its TLS listener
 * (a Kubernetes service-account token in, or the agent's X.509-SVID), the token out used
 * at Check, and the attacks on it — replay after expiry, audience swap, scope
 * escalation, tampering, use from another certificate or without one, re-exchange —
 * each denied with a stable reason. Plus rotation with overlap and the JWKS.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { stringify } from 'yaml';
import { baseConfig, startTestBroker, TEST_KEYS, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { expectNoCanary } from '../helpers/canary.ts';
import { freePort } from '../helpers/envoy.ts';
import { poll } from '../helpers/poll.ts';
import { makeSigner, mint, writeBundle } from '../helpers/tokens.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { connectTokenService, type TokenClient } from '../../src/tokens/client.ts';
import { connectAdmin } from '../../src/admin/client.ts';
import { certificateThumbprint } from '../../src/identity/gateway-token.ts';

const KUBE_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const SA_IDENTITY = 'spiffe://example.org/ns/research/sa/summarizer';
const SVID_IDENTITY = 'spiffe://example.org/ns/research/analyst';

async function signingJwk(): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d });
}

const kubeClaims = (namespace: string, sa: string) => ({ iss: KUBE_ISSUER, 'kubernetes.io': { namespace, serviceaccount: { name: sa, uid: 'c0ffee' } } });

describe('gateway tokens (TokenService/Exchange, proof gateway-token at Check)', function () {
  this.timeout(30_000);
  const ca = createCa('agents.local');
  const serverCert = ca.issue('keybroker-token', { dns: ['keybroker.local'], uris: ['spiffe://example.org/keybroker'] });
  const agentSvid = ca.issue('analyst', { uris: [SVID_IDENTITY] });
  const agentSvid2 = ca.issue('analyst-2', { uris: [SVID_IDENTITY] });
  const outsider = createCa('elsewhere').issue('outsider', { uris: [SVID_IDENTITY] });
  let t: TestBroker;
  let kube: Awaited<ReturnType<typeof makeSigner>>;
  let signingKey: string;
  let tokenPort: number;
  let serviceAccountToken: string;

  const keysYaml = (key: string) => stringify({ ...TEST_KEYS, 'tools/search': 'tool-key-for-tests', 'keybroker/token-signing': key });
  const tls = (who?: { cert: string; key: string }) => (who ? credentials.createSsl(Buffer.from(ca.cert), Buffer.from(who.key), Buffer.from(who.cert)) : credentials.createSsl(Buffer.from(ca.cert)));
  const connect = (who?: { cert: string; key: string }): TokenClient => connectTokenService(`127.0.0.1:${tokenPort}`, tls(who), { 'grpc.ssl_target_name_override': 'keybroker.local' });
  async function withClient<T>(who: { cert: string; key: string } | undefined, run: (c: TokenClient) => Promise<T>): Promise<T> {
    const client = connect(who);
    try {
      return await run(client);
    } finally {
      client.close();
    }
  }
  const refused = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.fail('the exchange was granted'),
      (e: ServiceError) => e,
    );
  const checkWith = (token: string, shape: Parameters<typeof envoyCheckRequest>[0] = {}) =>
    t.check(envoyCheckRequest({ principal: '', ...shape, headers: { authorization: `Bearer ${token}`, ...shape.headers } }));
  async function deniedWith(token: string, reason: string, shape: Parameters<typeof envoyCheckRequest>[0] = {}) {
    const response = await checkWith(token, shape);
    expect(response.status.code, 'allowed').to.not.equal(0);
    expect(deniedBody(response).reason).to.equal(reason);
  }

  before(async () => {
    kube = await makeSigner('kube-1');
    signingKey = await signingJwk();
    tokenPort = await freePort();
    const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'kb-gw-'));
    writeBundle(join(dir, 'kube.jwks'), [kube]);
    const config = baseConfig();
    config['issuers'] = [{ kind: 'kubernetes', name: 'cluster', issuer: KUBE_ISSUER, jwks: { file: join(dir, 'kube.jwks') }, audiences: ['keybroker'], trustDomain: 'example.org' }];
    config['admin'] = { listen: 'unix:admin.sock' };
    config['gatewayTokens'] = {
      listen: { address: `127.0.0.1:${tokenPort}`, tls: { cert: serverCert.certFile, key: serverCert.keyFile, clientCa: ca.certFile } },
      signingKey: 'keybroker/token-signing',
      ttl: '5m',
      clockSkew: '0s',
      rotationCheck: '1s',
    };
    t = await startTestBroker({ dir, config, keys: keysYaml(signingKey) });
    serviceAccountToken = await mint(kube, { sub: 'system:serviceaccount:research:summarizer', claims: kubeClaims('research', 'summarizer'), ttlSeconds: 3000 });
  });
  after(() => t?.stop());
  afterEach(() => {
    expectNoCanary(t.logs.text(), 'keybroker logs');
    expect(t.logs.text(), 'the service-account token in a log').to.not.include(serviceAccountToken.split('.')[2]);
    expect(t.logs.text(), 'the signing key in a log').to.not.include(JSON.parse(signingKey).d);
  });

  it('exchanges a Kubernetes service-account token for a short-lived token that Check accepts', async () => {
    const out = await withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken));
    expect(out).to.include({ token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', expires_in: 300 });
    const claims = decodeJwt(out.access_token);
    expect(claims).to.include({ iss: 'keybroker', aud: 'keybroker', sub: SA_IDENTITY });
    expect((claims.exp as number) - (claims.iat as number)).to.equal(300);
    expect(claims['cnf']).to.equal(undefined);
    const response = await checkWith(out.access_token);
    expect(response.status.code, JSON.stringify(response.denied_response)).to.equal(0);
    const decision = t.logs
      .lines()
      .filter((l) => l['decision'])
      .at(-1)!['decision'] as Record<string, unknown>;
    expect(decision).to.include({ identity: SA_IDENTITY, proof: 'gateway-token', decision: 'allow' });
    const audit = t.logs
      .lines()
      .filter((l) => l['audit'] === 'token-exchange')
      .at(-1)!;
    expect(audit).to.include({ identity: SA_IDENTITY, proof: 'kubernetes', bound: false, result: 'issued' });
    expect(JSON.stringify(t.logs.lines())).to.not.include(out.access_token.split('.')[2]);
  });

  it('exchanges an X.509-SVID for a token bound to that certificate, refused with another or none', async () => {
    const out = await withClient(agentSvid, (c) => c.exchange({}));
    const claims = decodeJwt(out.access_token);
    expect(claims.sub).to.equal(SVID_IDENTITY);
    const thumbprint = certificateThumbprint(new X509Certificate(agentSvid.cert).raw);
    expect(claims['cnf']).to.deep.equal({ 'x5t#S256': thumbprint });
    const allowed = await checkWith(out.access_token, { principal: SVID_IDENTITY, certificate: agentSvid.cert });
    expect(allowed.status.code, JSON.stringify(allowed.denied_response)).to.equal(0);
    // The same identity with another certificate (a stolen token replayed elsewhere), or none.
    await deniedWith(out.access_token, 'token_binding_mismatch', { principal: SVID_IDENTITY, certificate: agentSvid2.cert });
    await deniedWith(out.access_token, 'token_binding_mismatch');
  });

  it('a certificate from another CA proves nothing at the exchange', async () => {
    const error = await refused(withClient(outsider, (c) => c.exchange({})));
    expect(error.code).to.be.oneOf([GrpcStatus.INVALID_ARGUMENT, GrpcStatus.UNAVAILABLE]);
    if (error.code === GrpcStatus.INVALID_ARGUMENT) expect(error.details).to.match(/^invalid_request/);
  });

  it('downscopes: a token for tools is refused at openai (scope_exceeded)', async () => {
    const out = await withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken, { scope: ['tools'] }));
    expect(out.scope).to.deep.equal(['tools']);
    expect(decodeJwt(out.access_token)['scope']).to.equal('tools');
    await deniedWith(out.access_token, 'scope_exceeded');
    const tools = await checkWith(out.access_token, { destination: 'tools', host: 'tools.example.org', path: '/search' });
    expect(tools.status.code, JSON.stringify(tools.denied_response)).to.equal(0);
  });

  it('refuses scope escalation at the exchange and tampering at Check', async () => {
    const error = await refused(withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken, { scope: ['anthropic'] })));
    expect(error.code).to.equal(GrpcStatus.PERMISSION_DENIED);
    expect(error.details).to.match(/^invalid_scope \(scope_exceeded\)/);
    const narrow = await withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken, { scope: ['tools'] }));
    const [header, payload, signature] = narrow.access_token.split('.') as [string, string, string];
    const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), scope: 'tools openai' })).toString('base64url');
    await deniedWith(`${header}.${widened}.${signature}`, 'bad_signature');
  });

  it('replay after expiry is denied token_expired', async () => {
    const out = await withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken, { requested_ttl_seconds: 3 }));
    expect(out.expires_in).to.equal(3);
    expect((await checkWith(out.access_token)).status.code).to.equal(0);
    // Past exp (clock skew 0 here); the verified token was cached, and must not outlive exp.
    const exp = (decodeJwt(out.access_token).exp as number) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp - Date.now()) + 1100));
    await deniedWith(out.access_token, 'token_expired');
  });

  it('audience swap: refused at the exchange, and a keybroker-signed token for another audience is denied', async () => {
    const error = await refused(withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken, { audience: 'billing-api' })));
    expect(error.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
    expect(error.details).to.match(/^invalid_target/);
    const kid = decodeProtectedHeader((await withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken))).access_token).kid!;
    const key = await importJWK(JSON.parse(signingKey) as JWK, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const swapped = await new SignJWT({ jti: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer('keybroker')
      .setAudience('billing-api')
      .setSubject(SA_IDENTITY)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(key);
    await deniedWith(swapped, 'audience_mismatch');
  });

  it('refuses to exchange a gateway token (no endless renewal), and an exchange with no proof', async () => {
    const out = await withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken));
    const again = await refused(withClient(undefined, (c) => c.exchangeServiceAccountToken(out.access_token)));
    expect(again.code).to.equal(GrpcStatus.UNAUTHENTICATED);
    expect(again.details).to.match(/^invalid_grant \(token_not_exchangeable\)/);
    const none = await refused(withClient(undefined, (c) => c.exchange({})));
    expect(none.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
    const expiredSa = await mint(kube, { claims: kubeClaims('research', 'summarizer'), iat: Math.floor(Date.now() / 1000) - 120, ttlSeconds: 60 });
    expect((await refused(withClient(undefined, (c) => c.exchangeServiceAccountToken(expiredSa)))).details).to.match(/^invalid_grant \(token_expired\)/);
  });

  it('never issues a token that outlives the service-account token it was exchanged for', async () => {
    const now = Math.floor(Date.now() / 1000);
    const shortLived = await mint(kube, { claims: kubeClaims('research', 'summarizer'), iat: now - 10, ttlSeconds: 30 });
    const out = await withClient(undefined, (c) => c.exchangeServiceAccountToken(shortLived));
    const saExp = decodeJwt(shortLived).exp as number;
    expect(decodeJwt(out.access_token).exp as number, 'gateway token exp past the service-account token exp').to.be.at.most(saExp);
    expect(out.expires_in)
      .to.be.at.most(saExp - now)
      .and.at.least(1);
    // Past its exp but within the issuer's clock skew (30 s), it still verifies: it must not buy a fresh token.
    const lapsed = await mint(kube, { claims: kubeClaims('research', 'summarizer'), iat: now - 70, ttlSeconds: 60 });
    const error = await refused(withClient(undefined, (c) => c.exchangeServiceAccountToken(lapsed)));
    expect(error.code).to.equal(GrpcStatus.UNAUTHENTICATED);
    expect(error.details).to.match(/^invalid_grant \(token_expired\)/);
  });

  it('publishes its public keys on the admin listener, and rotates with overlap', async () => {
    const admin = connectAdmin(t.broker.adminAddress!);
    try {
      const before = await withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken));
      const oldKid = decodeProtectedHeader(before.access_token).kid!;
      const jwks = JSON.parse((await admin.GetJwks({})).jwks) as { keys: JWK[] };
      expect(jwks.keys.map((k) => k.kid)).to.deep.equal([oldKid]);
      expect(jwks.keys[0]).to.not.have.property('d');
      expect((await admin.Status({})).signing_key_id).to.equal(oldKid);

      writeFileSync(join(t.dir, 'keys.yaml'), keysYaml(await signingJwk()), { mode: 0o600 });
      await poll(
        async () => {
          const count = (JSON.parse((await admin.GetJwks({})).jwks) as { keys: JWK[] }).keys.length;
          if (count !== 2) throw new Error(`the JWKS holds ${count} keys, not the current and the retired one`);
        },
        { timeoutMs: 10_000 },
      );
      const after = await withClient(undefined, (c) => c.exchangeServiceAccountToken(serviceAccountToken));
      const newKid = decodeProtectedHeader(after.access_token).kid!;
      expect(newKid).to.not.equal(oldKid);
      expect((await admin.Status({})).signing_key_id).to.equal(newKid);
      // Both verify: the old token until it expires, the new one from now on.
      expect((await checkWith(before.access_token)).status.code).to.equal(0);
      expect((await checkWith(after.access_token)).status.code).to.equal(0);
    } finally {
      admin.close();
    }
  });
});
