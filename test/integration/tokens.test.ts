/**
 * Agents proven by tokens — JWT-SVIDs, Kubernetes service-account tokens — and the
 * natural person behind them, over real gRPC.
 */
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { CANARY_ANTHROPIC_KEY, CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';
import { forge, makeSigner, mint, nowSeconds, writeBundle, type Signer } from '../helpers/tokens.ts';
import type { CheckResponseMessage } from '../../src/envoy/response.ts';

const KUBE_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const PEOPLE_ISSUER = 'https://login.example.com';

function tokenConfig(dir: string): Record<string, unknown> {
  const config = baseConfig();
  config['trust'] = {
    'example.org': { bundle: { file: join(dir, 'example.org.jwks') }, audiences: ['keybroker'], maxTokenLifetime: '15m', clockSkew: '5s' },
    'partner.example': { bundle: { file: join(dir, 'partner.jwks') }, audiences: ['keybroker'] },
  };
  config['issuers'] = [
    { kind: 'kubernetes', name: 'cluster', issuer: KUBE_ISSUER, jwks: { file: join(dir, 'kube.jwks') }, audiences: ['keybroker'], trustDomain: 'example.org' },
    { kind: 'person', name: 'people', issuer: PEOPLE_ISSUER, jwks: { file: join(dir, 'people.jwks') }, audiences: ['agents-gateway'], header: 'x-user-token' },
  ];
  (config['policy'] as unknown[]).push({
    id: 'finance-needs-a-person',
    identities: ['spiffe://example.org/ns/finance/*'],
    destinations: ['openai'],
    methods: ['POST'],
    paths: ['/v1/chat/completions'],
    person: { required: true, groups: ['finance-analysts'] },
  });
  return config;
}

/** A request with no mTLS principal: identity comes only from the token. */
const tokenRequest = (headers: Record<string, string>, shape: Parameters<typeof envoyCheckRequest>[0] = {}) =>
  envoyCheckRequest({ principal: '', ...shape, headers: { ...headers, ...shape.headers } });

describe('token identities', () => {
  let t: TestBroker;
  let signer: Signer;
  let partner: Signer;
  let kube: Signer;
  let people: Signer;
  let rsa: Signer;
  const answers: CheckResponseMessage[] = [];
  const tokensSent: string[] = [];

  const check = async (request: ReturnType<typeof envoyCheckRequest>) => {
    const response = await t.check(request);
    answers.push(response);
    return response;
  };
  const bearer = (token: string) => {
    tokensSent.push(token);
    return { authorization: `Bearer ${token}` };
  };
  const deniedWith = async (token: string, reason: string) => {
    const response = await check(tokenRequest(bearer(token)));
    expect(response.ok_response, `allowed a token that should be ${reason}`).to.equal(undefined);
    expect(deniedBody(response).reason).to.equal(reason);
    expect(response.denied_response?.status.code).to.equal(401);
  };

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-tokens-'));
    signer = await makeSigner('example-es256');
    rsa = await makeSigner('example-ps256', 'PS256');
    partner = await makeSigner('partner-es256');
    kube = await makeSigner('kube-rs256', 'RS256');
    people = await makeSigner('people-es384', 'ES384');
    writeBundle(join(dir, 'example.org.jwks'), [signer, rsa]);
    writeBundle(join(dir, 'partner.jwks'), [partner]);
    writeBundle(join(dir, 'kube.jwks'), [kube]);
    writeBundle(join(dir, 'people.jwks'), [people]);
    t = await startTestBroker({ dir, config: tokenConfig(dir) });
  });

  after(async () => {
    await t.stop();
    for (const token of tokensSent) {
      // Never a token in the log or in an answer: check a distinctive slice (the signature).
      const signature = token.split('.')[2] ?? '';
      if (signature.length > 16) {
        expect(t.logs.text()).to.not.include(signature);
        for (const a of answers) expect(JSON.stringify(a)).to.not.include(signature);
      }
    }
    expectNoCanary(t.logs.text(), 'the log');
    for (const a of answers.filter((x) => x.denied_response)) expectNoCanary(JSON.stringify(a), 'a denial');
  });

  describe('as the AI SDKs send them', () => {
    it('OpenAI shape: authorization: Bearer <JWT-SVID> is allowed, the key injected over the SVID', async () => {
      const token = await mint(signer);
      const response = await check(tokenRequest({ ...bearer(token), 'x-user-agent': 'OpenAI/Python' }));
      expect(response.status.code, JSON.stringify(response.denied_response)).to.equal(0);
      expect(response.ok_response?.headers[0]?.header).to.deep.equal({ key: 'authorization', value: `Bearer ${CANARY_KEY}` });
      expect(response.ok_response?.headers_to_remove).to.include.members(['x-api-key', 'api-key', 'x-user-token']);
      expect(response.dynamic_metadata.fields['identity']?.stringValue).to.equal('spiffe://example.org/ns/research/summarizer');
    });

    it('Anthropic shape: x-api-key: <JWT-SVID> is allowed with the key injected there', async () => {
      const token = await mint(signer, { sub: 'spiffe://example.org/ns/writing/writer' });
      tokensSent.push(token);
      const response = await check(tokenRequest({ 'x-api-key': token, 'anthropic-version': '2023-06-01' }, { destination: 'anthropic', path: '/anthropic/v1/messages' }));
      expect(response.status.code, JSON.stringify(response.denied_response)).to.equal(0);
      expect(response.ok_response?.headers[0]?.header).to.deep.equal({ key: 'x-api-key', value: CANARY_ANTHROPIC_KEY });
      expect(response.ok_response?.headers_to_remove).to.include('authorization');
    });

    it('Azure shape: api-key: <JWT-SVID> is found too', async () => {
      const token = await mint(signer);
      tokensSent.push(token);
      expect((await check(tokenRequest({ 'api-key': token }))).status.code).to.equal(0);
    });

    it('accepts RSA-PSS as well as ECDSA', async () => {
      expect((await check(tokenRequest(bearer(await mint(rsa))))).status.code).to.equal(0);
    });

    it('ignores a value that is not a JWT (an SDK placeholder key) and still strips it', async () => {
      const response = await check(envoyCheckRequest({ headers: { 'x-api-key': 'sk-placeholder', authorization: 'Bearer sk-placeholder' } }));
      expect(response.status.code).to.equal(0);
      expect(response.ok_response?.headers_to_remove).to.include('x-api-key');
    });
  });

  describe('mTLS and a token together', () => {
    it('allows them when they name the same identity', async () => {
      const response = await check(envoyCheckRequest({ headers: bearer(await mint(signer)) }));
      expect(response.status.code).to.equal(0);
    });
    it('denies identity_conflict when they differ', async () => {
      const response = await check(envoyCheckRequest({ headers: bearer(await mint(signer, { sub: 'spiffe://example.org/ns/writing/writer' })) }));
      expect(deniedBody(response).reason).to.equal('identity_conflict');
      expect(response.denied_response?.status.code).to.equal(401);
    });
    it('denies two different tokens', async () => {
      const a = await mint(signer);
      const b = await mint(signer, { ttlSeconds: 200 });
      tokensSent.push(a, b);
      const response = await check(tokenRequest({ authorization: `Bearer ${a}`, 'x-api-key': b }));
      expect(deniedBody(response).reason).to.equal('identity_conflict');
      expect(response.denied_response?.status.code).to.equal(401);
    });
  });

  describe('the attack corpus', () => {
    const payload = () => ({ sub: 'spiffe://example.org/ns/research/summarizer', aud: 'keybroker', iat: nowSeconds(), exp: nowSeconds() + 300 });

    it('alg none', () => deniedWith(forge({ alg: 'none', kid: 'example-es256', typ: 'JWT' }, payload()), 'alg_not_allowed'));
    it("HS256 signed with the bundle's public key as the secret", () =>
      deniedWith(forge({ alg: 'HS256', kid: 'example-es256', typ: 'JWT' }, payload(), JSON.stringify(signer.publicJwk)), 'alg_not_allowed'));
    it('EdDSA (outside the list)', () => deniedWith(forge({ alg: 'EdDSA', kid: 'example-es256' }, payload(), 'x'), 'alg_not_allowed'));
    it('missing kid', async () => deniedWith(await mint(signer, { kid: null }), 'kid_missing'));
    it('kid not in the bundle', async () => deniedWith(await mint(await makeSigner('stranger')), 'kid_unknown'));
    it('expired', async () => deniedWith(await mint(signer, { iat: nowSeconds() - 600, exp: nowSeconds() - 60 }), 'token_expired'));
    it('nbf in the future', async () => deniedWith(await mint(signer, { nbf: nowSeconds() + 120 }), 'token_not_yet_valid'));
    it('lifetime over the maximum', async () => deniedWith(await mint(signer, { ttlSeconds: 3600 }), 'lifetime_too_long'));
    it('lifetime over the maximum without iat', async () => deniedWith(await mint(signer, { iat: null, exp: nowSeconds() + 3600 }), 'lifetime_too_long'));
    it('iat in the future beyond the clock skew, however short its exp − iat', async () => deniedWith(await mint(signer, { iat: nowSeconds() + 10 * 86_400, ttlSeconds: 300 }), 'token_not_yet_valid'));
    it('iat just within the skew cannot stretch the lifetime past the maximum (measured from now)', async () =>
      deniedWith(await mint(signer, { iat: nowSeconds() + 4, ttlSeconds: 15 * 60 }), 'lifetime_too_long'));
    it('iat in the past is measured from iat, and the maximum itself is accepted', async () => {
      const token = await mint(signer, { iat: nowSeconds() - 60, ttlSeconds: 15 * 60 });
      expect((await check(tokenRequest(bearer(token)))).status.code).to.equal(0);
    });
    it('no exp', async () => deniedWith(await mint(signer, { exp: null }), 'token_malformed'));
    it('wrong aud', async () => deniedWith(await mint(signer, { aud: 'someone-else' }), 'audience_mismatch'));
    it('no aud', async () => deniedWith(await mint(signer, { aud: null }), 'audience_mismatch'));
    it('sub not a SPIFFE ID', async () => deniedWith(await mint(signer, { sub: 'research-agent' }), 'subject_invalid'));
    it('sub with a dot segment', async () => deniedWith(await mint(signer, { sub: 'spiffe://example.org/ns/../admin' }), 'subject_invalid'));
    it("sub in trust domain B signed with A's key", async () => deniedWith(await mint(signer, { sub: 'spiffe://partner.example/ns/research/summarizer' }), 'trust_domain_mismatch'));
    it('sub in a trust domain without a bundle', async () => deniedWith(await mint(signer, { sub: 'spiffe://elsewhere.example/x' }), 'trust_domain_unknown'));
    it('an extra critical header', async () => deniedWith(await mint(signer, { header: { crit: ['x-critical'], 'x-critical': true }, crit: ['x-critical'] }), 'token_malformed'));
    it('typ other than JWT or JOSE', async () => deniedWith(await mint(signer, { header: { typ: 'at+jwt' } }), 'token_malformed'));
    it('a forged signature', async () => {
      const [h, p] = (await mint(signer)).split('.');
      const other = (await mint(await makeSigner('example-es256'))).split('.')[2];
      await deniedWith(`${h}.${p}.${other}`, 'bad_signature');
    });
    it('a payload changed after signing', async () => {
      const [h, , s] = (await mint(signer)).split('.');
      const p = Buffer.from(JSON.stringify({ ...payload(), sub: 'spiffe://example.org/ns/research/admin' })).toString('base64url');
      await deniedWith(`${h}.${p}.${s}`, 'bad_signature');
    });
    it('truncated', async () => {
      const token = await mint(signer);
      await deniedWith(token.slice(0, token.length - 20), 'bad_signature');
      await deniedWith(token.split('.').slice(0, 2).join('.') + '.', 'bad_signature');
    });
    it('garbage base64', async () => {
      await deniedWith('eyJ!!!.garbage.here', 'token_malformed');
      await deniedWith('eyJhbGciOiJFUzI1NiJ9.%%%%.xyz', 'token_malformed');
      await deniedWith('eyJub3QganNvbg.eyJ9.c2ln', 'token_malformed');
    });
    it('a 1 MB token', async () => {
      const response = await check(tokenRequest({ authorization: `Bearer eyJ${'A'.repeat(1024 * 1024)}.e30.c2ln` }));
      expect(response.ok_response).to.equal(undefined);
      expect(deniedBody(response).reason).to.be.oneOf(['request_malformed', 'token_malformed']);
    });
    it('a token signed for the person issuer used as an identity', async () => {
      await deniedWith(await mint(people, { claims: { iss: PEOPLE_ISSUER } }), 'kid_unknown');
    });
  });

  describe('Kubernetes service-account tokens', () => {
    const kubeClaims = (namespace: string, sa: string) => ({
      iss: KUBE_ISSUER,
      'kubernetes.io': { namespace, serviceaccount: { name: sa, uid: 'c0ffee' }, pod: { name: 'p', uid: 'u' } },
    });
    it('maps namespace and service account to spiffe://<td>/ns/<ns>/sa/<sa>', async () => {
      const token = await mint(kube, { sub: 'system:serviceaccount:research:summarizer', claims: kubeClaims('research', 'summarizer'), ttlSeconds: 3000 });
      const response = await check(tokenRequest(bearer(token)));
      expect(response.status.code, JSON.stringify(response.denied_response)).to.equal(0);
      expect(response.dynamic_metadata.fields['identity']?.stringValue).to.equal('spiffe://example.org/ns/research/sa/summarizer');
      const line = t.logs
        .lines()
        .filter((l) => l['decision'])
        .at(-1)!['decision'] as Record<string, unknown>;
      expect(line['proof']).to.equal('kubernetes');
    });
    it('refuses a token from the issuer signed with another key', async () => {
      await deniedWith(await mint(signer, { claims: kubeClaims('research', 'summarizer') }), 'kid_unknown');
    });
    it('refuses a token issued in the future, and one whose lifetime from now exceeds the maximum', async () => {
      const claims = kubeClaims('research', 'summarizer');
      await deniedWith(await mint(kube, { sub: 'x', claims, iat: nowSeconds() + 10 * 86_400, ttlSeconds: 300 }), 'token_not_yet_valid');
      await deniedWith(await mint(kube, { sub: 'x', claims, iat: nowSeconds() + 20, ttlSeconds: 3600 }), 'lifetime_too_long');
    });
    it('refuses a token without the kubernetes.io claims', async () => {
      await deniedWith(await mint(kube, { sub: 'system:serviceaccount:x:y', claims: { iss: KUBE_ISSUER } }), 'subject_invalid');
    });
    it('refuses a namespace that would not be a SPIFFE path segment', async () => {
      await deniedWith(await mint(kube, { sub: 'x', claims: kubeClaims('..', 'admin') }), 'subject_invalid');
    });
  });

  describe('the natural person', () => {
    const personToken = (claims: Record<string, unknown>, options: Parameters<typeof mint>[1] = {}) =>
      mint(people, { sub: 'u-1029', aud: 'agents-gateway', claims: { iss: PEOPLE_ISSUER, email: 'ada@example.com', ...claims }, ...options });

    it('names the person in the decision and its log line', async () => {
      const user = await personToken({ groups: ['research'] });
      tokensSent.push(user);
      const response = await check(envoyCheckRequest({ requestId: 'with-person', headers: { 'x-user-token': user } }));
      expect(response.status.code).to.equal(0);
      expect(response.ok_response?.headers_to_remove).to.include('x-user-token');
      const line = t.logs.lines().filter((l) => (l['decision'] as Record<string, unknown> | undefined)?.['decisionId'] === 'with-person')[0]!['decision'] as Record<string, unknown>;
      expect(line).to.include({ person: 'u-1029', personEmail: 'ada@example.com' });
    });
    it('never records an email address its issuer says is unverified', async () => {
      const unverified = await personToken({ email: 'ceo@example.com', email_verified: false });
      const verified = await personToken({ email: 'ada@example.com', email_verified: true });
      tokensSent.push(unverified, verified);
      expect((await check(envoyCheckRequest({ requestId: 'unverified-email', headers: { 'x-user-token': unverified } }))).status.code).to.equal(0);
      expect((await check(envoyCheckRequest({ requestId: 'verified-email', headers: { 'x-user-token': verified } }))).status.code).to.equal(0);
      const decision = (id: string) => t.logs.lines().find((l) => (l['decision'] as Record<string, unknown> | undefined)?.['decisionId'] === id)!['decision'] as Record<string, unknown>;
      expect(decision('unverified-email')).to.include({ person: 'u-1029' }).and.not.have.property('personEmail');
      expect(decision('verified-email')).to.include({ person: 'u-1029', personEmail: 'ada@example.com' });
    });
    it('lets a grant require a person in a group', async () => {
      const finance = { principal: 'spiffe://example.org/ns/finance/ledger-bot' };
      expect(deniedBody(await check(envoyCheckRequest(finance))).reason).to.equal('no_matching_grant');
      const outsider = await personToken({ groups: ['marketing'] });
      const analyst = await personToken({ groups: ['finance-analysts'] });
      tokensSent.push(outsider, analyst);
      expect(deniedBody(await check(envoyCheckRequest({ ...finance, headers: { 'x-user-token': outsider } }))).reason).to.equal('no_matching_grant');
      expect((await check(envoyCheckRequest({ ...finance, headers: { 'x-user-token': analyst } }))).status.code).to.equal(0);
    });
    it('denies an invalid user token rather than ignoring it', async () => {
      const expired = await personToken({ groups: [] }, { iat: nowSeconds() - 600, exp: nowSeconds() - 60 });
      tokensSent.push(expired);
      const response = await check(envoyCheckRequest({ headers: { 'x-user-token': expired } }));
      expect(deniedBody(response).reason).to.equal('person_invalid');
      expect(response.denied_response?.status.code).to.equal(401);
      const wrongAudience = await personToken({}, { aud: 'keybroker' });
      tokensSent.push(wrongAudience);
      expect(deniedBody(await check(envoyCheckRequest({ headers: { 'x-user-token': wrongAudience } }))).reason).to.equal('person_invalid');
    });
    it('refuses a user token issued in the future, or living longer than its issuer allows', async () => {
      const detailOf = (requestId: string) =>
        t.logs
          .lines()
          .map((l) => l['decision'] as Record<string, unknown> | undefined)
          .find((d) => d?.['decisionId'] === requestId)?.['detail'];
      const future = await personToken({ groups: [] }, { iat: nowSeconds() + 10 * 86_400, ttlSeconds: 300 });
      const tooLong = await personToken({ groups: [] }, { ttlSeconds: 25 * 3600 });
      tokensSent.push(future, tooLong);
      const first = await check(envoyCheckRequest({ requestId: 'person-future', headers: { 'x-user-token': future } }));
      expect(deniedBody(first).reason).to.equal('person_invalid');
      expect(first.denied_response?.status.code).to.equal(401);
      expect(detailOf('person-future')).to.match(/^token_not_yet_valid: /);
      const second = await check(envoyCheckRequest({ requestId: 'person-too-long', headers: { 'x-user-token': tooLong } }));
      expect(deniedBody(second).reason).to.equal('person_invalid');
      expect(detailOf('person-too-long')).to.match(/^lifetime_too_long: /);
    });
  });

  describe('the verified-token cache', () => {
    it('verifies a token once: the second Check does no signature verification', async () => {
      const token = await mint(signer, { ttlSeconds: 120 });
      const verifier = t.broker.runtime().tokens;
      const before = verifier.verifications;
      expect((await check(tokenRequest(bearer(token)))).status.code).to.equal(0);
      expect(verifier.verifications).to.equal(before + 1);
      expect((await check(tokenRequest(bearer(token)))).status.code).to.equal(0);
      expect(verifier.verifications).to.equal(before + 1);
    });

    it('drops what a key signed once the key leaves the bundle', async () => {
      const token = await mint(rsa, { ttlSeconds: 120 });
      expect((await check(tokenRequest(bearer(token)))).status.code).to.equal(0);
      writeBundle(join(t.dir, 'example.org.jwks'), [signer]);
      const bundle = t.broker.runtime().tokens.settings.trustDomains.get('example.org')!.bundle;
      expect(await bundle.refresh()).to.equal(true);
      const response = await check(tokenRequest(bearer(token)));
      expect(deniedBody(response).reason).to.equal('kid_unknown');
      writeBundle(join(t.dir, 'example.org.jwks'), [signer, rsa]);
      await bundle.refresh();
    });

    it("never caches past the token's exp", async () => {
      const token = await mint(signer, { iat: nowSeconds() - 290, exp: nowSeconds() + 1 });
      expect((await check(tokenRequest(bearer(token)))).status.code).to.equal(0);
      await new Promise((r) => setTimeout(r, 2100));
      // Within the 5 s clock skew jose still accepts it, so the cache must not be what decides:
      // a fresh verification happens (the count rises) once exp has passed.
      const verifier = t.broker.runtime().tokens;
      const before = verifier.verifications;
      await check(tokenRequest(bearer(token)));
      expect(verifier.verifications).to.equal(before + 1);
    });
  });
});
