/**
 * OAuth2 client credentials against a local token endpoint over real HTTP(S) on loopback:
 * client authentication, caching, refresh ahead, single flight, and every way a token
 * endpoint fails, each bounded and failing closed.
 */
import { expect } from 'chai';
import { pino } from 'pino';
import { decodeJwt, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { OAuth2Tokens, type OAuth2Spec } from '../../src/credentials/oauth2.ts';
import { Secret } from '../../src/credentials/secret.ts';
import { KeyUnavailableError } from '../../src/credentials/store.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { startTokenEndpoint, type TokenEndpoint } from '../helpers/token-endpoint.ts';
import { CANARY_ACCESS_TOKEN, CANARY_CLIENT_SECRET, expectNoCanary } from '../helpers/canary.ts';
import { Capture } from '../helpers/capture.ts';
import { poll } from '../helpers/poll.ts';

describe('OAuth2 client credentials', function () {
  this.timeout(20_000);
  let endpoint: TokenEndpoint;
  const logs = new Capture();
  const errors: string[] = [];
  const clientSecret = new Secret('file', 'saas/client', CANARY_CLIENT_SECRET);
  const tokenSources: OAuth2Tokens[] = [];
  const tokens = () => {
    const t = new OAuth2Tokens({ log: pino(logs) });
    tokenSources.push(t);
    return t;
  };
  const spec = (extra: Partial<OAuth2Spec> = {}): OAuth2Spec => ({ tokenUrl: endpoint.url, clientId: 'keybroker', auth: 'client_secret_basic', scopes: ['read', 'write'], timeout: 1000, ...extra });
  const failure = async (pending: unknown): Promise<KeyUnavailableError> => {
    try {
      await pending;
    } catch (error) {
      expect(error).to.be.instanceOf(KeyUnavailableError);
      errors.push((error as Error).message);
      return error as KeyUnavailableError;
    }
    throw new Error('the token request did not fail');
  };

  beforeEach(async () => {
    endpoint = await startTokenEndpoint();
  });
  afterEach(async () => {
    for (const t of tokenSources.splice(0)) t.close();
    await endpoint.close();
  });
  after(() => {
    // Neither the client secret nor any access token is ever logged or put in an error.
    expectNoCanary(logs.text(), 'the OAuth2 log');
    for (const message of errors) expectNoCanary(message, 'an OAuth2 error');
  });

  it('authenticates with client_secret_basic (RFC 6749 §2.3.1) and asks for the scopes and audience', async () => {
    const t = tokens();
    const token = await t.token('saas', spec({ audience: 'https://api.saas.example' }), new Secret('file', 'saas/client', 'se cret:+/'));
    expect(token.reveal()).to.equal(`${CANARY_ACCESS_TOKEN}-1`);
    expect(token.id).to.match(/^oauth2:keybroker#[0-9a-f]{12}$/);
    const sent = endpoint.requests[0]!;
    // The id and secret are form-encoded, then joined and base64-encoded.
    expect(sent.authorization).to.equal(`Basic ${Buffer.from('keybroker:se+cret%3A%2B%2F').toString('base64')}`);
    expect(Object.fromEntries(sent.form)).to.deep.equal({ grant_type: 'client_credentials', scope: 'read write', audience: 'https://api.saas.example' });
  });

  it('authenticates with client_secret_post', async () => {
    await tokens().token('saas', spec({ auth: 'client_secret_post', scopes: [] }), clientSecret);
    const sent = endpoint.requests[0]!;
    expect(sent.authorization).to.equal(undefined);
    expect(Object.fromEntries(sent.form)).to.deep.equal({ grant_type: 'client_credentials', client_id: 'keybroker', client_secret: CANARY_CLIENT_SECRET });
  });

  it("authenticates with private_key_jwt (RFC 7523): a fresh, short-lived assertion signed by the client's key", async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'kb-1' });
    const t = tokens();
    const key = new Secret('file', 'saas/client-key', jwk);
    await t.token('saas', spec({ auth: 'private_key_jwt' }), key);
    await t.token('saas', spec({ auth: 'private_key_jwt', scopes: ['other'] }), key);
    const [first, second] = endpoint.requests.map((r) => Object.fromEntries(r.form));
    expect(endpoint.requests[0]!.authorization).to.equal(undefined);
    expect(first).to.include({ grant_type: 'client_credentials', client_id: 'keybroker', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' });
    const { payload, protectedHeader } = await jwtVerify(first!['client_assertion']!, publicKey, { issuer: 'keybroker', subject: 'keybroker', audience: endpoint.url });
    expect(protectedHeader).to.include({ alg: 'ES256', kid: 'kb-1' });
    expect(payload.exp! - payload.iat!).to.equal(60);
    expect(payload.jti).to.be.a('string');
    const other = decodeJwt(second!['client_assertion']!);
    expect(other.jti, 'a fresh jti for every assertion').to.not.equal(payload.jti);
    expect(JSON.stringify(endpoint.requests.map((r) => [...r.form]))).to.not.include(String((await exportJWK(privateKey)).d));
  });

  it('refuses a private_key_jwt key that is not an asymmetric private JWK, without quoting it', async () => {
    for (const [value, message] of [
      [`{"kty":"oct","k":"${CANARY_CLIENT_SECRET}"}`, /not an asymmetric private key/],
      [`{"kty":"EC","crv":"P-256","x":"${CANARY_CLIENT_SECRET}"`, /is not a JWK/],
      [CANARY_CLIENT_SECRET, /is not a JWK/],
    ] as const) {
      const error = await failure(tokens().token('saas', spec({ auth: 'private_key_jwt' }), new Secret('file', 'saas/client-key', value)));
      expect(error.message).to.match(message);
    }
    expect(endpoint.requests).to.have.length(0);
  });

  it('serves a cached token synchronously, per destination, scopes and client secret', async () => {
    const t = tokens();
    const first = await t.token('saas', spec(), clientSecret);
    const again = t.token('saas', spec(), clientSecret);
    expect(again).to.equal(first); // the Secret itself, not a promise
    await t.token('saas', spec({ scopes: ['read'] }), clientSecret);
    await t.token('other', spec(), clientSecret);
    await t.token('saas', spec(), new Secret('file', 'saas/client', `${CANARY_CLIENT_SECRET}-rotated`));
    expect(endpoint.requests).to.have.length(4);
  });

  it('sends one token request for 500 concurrent callers', async () => {
    const t = tokens();
    endpoint.delayMs = 100;
    const all = await Promise.all(Array.from({ length: 500 }, () => t.token('saas', spec(), clientSecret)));
    expect(endpoint.requests).to.have.length(1);
    expect(new Set(all.map((s) => s.id)).size).to.equal(1);
  });

  it('refreshes ahead of expiry in the background, and never serves an expired token', async () => {
    const t = tokens();
    endpoint.expiresIn = 2;
    const first = await t.token('saas', spec(), clientSecret);
    void t.token('saas', spec(), clientSecret); // in use: worth refreshing
    // Refreshed at 75–85% of the 2 s lifetime, before the token stops being served at 1.8 s:
    // every call meanwhile is answered from cache, synchronously.
    let refreshed: Secret | undefined;
    await poll(
      async () => {
        const now = t.token('saas', spec(), clientSecret);
        expect(now, 'served from cache, not awaited').to.be.instanceOf(Secret);
        if ((now as Secret).id === first.id) throw new Error('not refreshed yet');
        refreshed = now as Secret;
      },
      { timeoutMs: 1800, intervalMs: 20 },
    );
    expect(refreshed?.reveal()).to.equal(`${CANARY_ACCESS_TOKEN}-2`);
    expect(endpoint.requests).to.have.length(2);
  });

  it('lets an unused token lapse rather than refreshing it forever', async () => {
    const t = tokens();
    endpoint.expiresIn = 1;
    await t.token('saas', spec(), clientSecret);
    await new Promise((r) => setTimeout(r, 1500));
    expect(endpoint.requests).to.have.length(1);
  });

  it('keeps serving a valid token through a failed refresh, then fails closed once it expires', async () => {
    const t = tokens();
    endpoint.expiresIn = 2;
    const first = await t.token('saas', spec(), clientSecret);
    void t.token('saas', spec(), clientSecret); // in use: worth refreshing
    endpoint.mode = 'refuse';
    await poll(
      async () => {
        if (endpoint.requests.length < 2) throw new Error('no refresh yet');
      },
      { timeoutMs: 1800, intervalMs: 20 },
    );
    const during = t.token('saas', spec(), clientSecret);
    expect((during as Secret).id, 'the outage does not take the valid token away').to.equal(first.id);
    await new Promise((r) => setTimeout(r, 2000 - 1500 + 100));
    const error = await failure(t.token('saas', spec(), clientSecret));
    expect(error.message).to.match(/refused the client \(401, invalid_client\)/);
  });

  it('fails closed on every kind of broken token endpoint, within its timeout', async () => {
    const cases: Array<[TokenEndpoint['mode'], RegExp]> = [
      ['refuse', /refused the client \(401, invalid_client\)/],
      ['hang', /did not answer within 300 ms/],
      ['drip', /did not answer within 300 ms/],
      ['flood', /larger than 65536 bytes/],
      ['garbage', /not a JSON object/],
      ['not-bearer', /not of type Bearer/],
    ];
    for (const [mode, message] of cases) {
      endpoint.mode = mode;
      const started = Date.now();
      const error = await failure(tokens().token('saas', spec({ timeout: 300 }), clientSecret));
      expect(error.message, mode).to.match(message);
      expect(Date.now() - started, mode).to.be.below(1000);
    }
  });

  it('fails closed when the endpoint is unreachable', async () => {
    const url = endpoint.url;
    await endpoint.close();
    const error = await failure(tokens().token('saas', spec({ tokenUrl: url }), clientSecret));
    expect(error.message).to.match(/unreachable \(ECONNREFUSED\)/);
    endpoint = await startTokenEndpoint();
  });

  it('bounds each caller by its own deadline while the shared request carries on', async () => {
    const t = tokens();
    endpoint.delayMs = 400;
    const started = Date.now();
    const early = await failure(t.token('saas', spec(), clientSecret, Date.now() + 100));
    expect(early.message).to.match(/before the Check deadline/);
    expect(Date.now() - started).to.be.below(300);
    const later = await t.token('saas', spec(), clientSecret);
    expect(later.reveal()).to.equal(`${CANARY_ACCESS_TOKEN}-1`);
    expect(endpoint.requests).to.have.length(1);
  });

  it('verifies an https token endpoint against the configured ca', async () => {
    const ca = createCa('token-endpoint');
    const tls = await startTokenEndpoint({ tls: ca.issue('localhost', { dns: ['localhost'], ips: ['127.0.0.1'] }) });
    try {
      const token = await tokens().token('saas', spec({ tokenUrl: tls.url, ca: ca.certFile }), clientSecret);
      expect(token.reveal()).to.match(new RegExp(`^${CANARY_ACCESS_TOKEN}`));
      const error = await failure(tokens().token('saas', spec({ tokenUrl: tls.url }), clientSecret));
      expect(error.message).to.match(/unreachable/);
      expect(tls.requests, 'nothing is sent to an endpoint that fails verification').to.have.length(1);
    } finally {
      await tls.close();
    }
  });
});
