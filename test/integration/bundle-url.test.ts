/**
 * A trust domain's JWT bundle served from a real local HTTPS server (its own CA),
 * rotated while keybroker runs, then taken away.
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { bundleJson, makeSigner, mint, type Signer } from '../helpers/tokens.ts';

describe('a JWKS URL bundle', function () {
  this.timeout(20_000);
  const ca = createCa('bundle-server');
  const serverCert = ca.issue('bundle.local', { dns: ['localhost'], ips: ['127.0.0.1'] });
  let served = '';
  let requests = 0;
  let server: Server;
  let t: TestBroker;
  let first: Signer;
  let second: Signer;

  const tokenRequest = async (signer: Signer) => envoyCheckRequest({ principal: '', headers: { authorization: `Bearer ${await mint(signer)}` } });

  before(async () => {
    first = await makeSigner('first');
    second = await makeSigner('second');
    served = bundleJson([first], { spiffe: true, extraKeys: [{ kty: 'EC', crv: 'P-256', x: first.publicJwk.x!, y: first.publicJwk.y!, kid: 'x509-only', use: 'x509-svid' }] });
    server = createServer({ cert: serverCert.cert, key: serverCert.key }, (_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(served);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const config = baseConfig();
    config['trust'] = {
      'example.org': {
        bundle: { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/bundle`, format: 'spiffe', ca: ca.certFile, refresh: '1h' },
        audiences: ['keybroker'],
      },
    };
    config['tokens'] = { minBundleRefresh: '200ms' };
    t = await startTestBroker({ config });
  });

  after(async () => {
    await t.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('loads the bundle over verified TLS, taking only jwt-svid keys', async () => {
    const response = await t.check(await tokenRequest(first));
    expect(response.status.code, t.logs.text()).to.equal(0);
    const bundle = t.broker.runtime().tokens.settings.trustDomains.get('example.org')!.bundle;
    expect(bundle.has('x509-only')).to.equal(false);
  });

  it('accepts a key added by rotation, on the first token that names it', async () => {
    served = bundleJson([first, second], { spiffe: true });
    const before = requests;
    await new Promise((r) => setTimeout(r, 250));
    const response = await t.check(await tokenRequest(second));
    expect(response.status.code, JSON.stringify(response.denied_response)).to.equal(0);
    expect(requests).to.equal(before + 1);
  });

  it('rejects tokens of a removed key after the refresh', async () => {
    served = bundleJson([second], { spiffe: true });
    await new Promise((r) => setTimeout(r, 250));
    await t.broker.runtime().tokens.settings.trustDomains.get('example.org')!.bundle.refresh();
    expect(deniedBody(await t.check(await tokenRequest(first))).reason).to.equal('kid_unknown');
    expect((await t.check(await tokenRequest(second))).status.code).to.equal(0);
  });

  it('never replaces a good bundle with one that does not parse', async () => {
    served = '{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "second", "use": "jwt-svid"}]}';
    const bundle = t.broker.runtime().tokens.settings.trustDomains.get('example.org')!.bundle;
    expect(await bundle.refresh()).to.equal(false);
    served = 'not json';
    expect(await bundle.refresh()).to.equal(false);
    expect((await t.check(await tokenRequest(second))).status.code).to.equal(0);
  });

  it('keeps working on the last good bundle with the server stopped', async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const bundle = t.broker.runtime().tokens.settings.trustDomains.get('example.org')!.bundle;
    expect(await bundle.refresh()).to.equal(false);
    expect((await t.check(await tokenRequest(second))).status.code).to.equal(0);
    expect(t.logs.text()).to.include('bundle refresh failed; keeping the last good keys');
    server.listen(0, '127.0.0.1'); // so that after() can close it
  });
});

describe('a JWKS URL that drips', function () {
  this.timeout(20_000);
  const ca = createCa('dripping-bundle-server');
  const serverCert = ca.issue('bundle.local', { ips: ['127.0.0.1'] });
  let server: Server;
  let t: TestBroker | undefined;
  const timers = new Set<NodeJS.Timeout>();

  after(async () => {
    await t?.stop();
    for (const timer of timers) clearInterval(timer);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('abandons the dripping fetch at tokens.fetchTimeout, and the scheduled refresh still comes and loads the keys', async () => {
    const signer = await makeSigner('drip');
    const body = bundleJson([signer], { spiffe: true });
    let requests = 0;
    server = createServer({ cert: serverCert.cert, key: serverCert.key }, (_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      if (requests > 1) return void res.end(body);
      // Headers at once, then one byte every 200 ms: never idle, never done.
      let i = 0;
      const timer = setInterval(() => (res.destroyed || i >= body.length ? clearInterval(timer) : res.write(body[i++])), 200);
      timers.add(timer);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const config = baseConfig();
    config['trust'] = {
      'example.org': { bundle: { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/bundle`, format: 'spiffe', ca: ca.certFile, refresh: '1s' }, audiences: ['keybroker'] },
    };
    config['tokens'] = { minBundleRefresh: '10m', fetchTimeout: '500ms' };
    const started = Date.now();
    t = await startTestBroker({ config });
    expect(Date.now() - started, 'start-up is not held by the drip').to.be.below(3000);
    expect(t.logs.text()).to.include('did not complete within 500 ms');
    const request = envoyCheckRequest({ principal: '', headers: { authorization: `Bearer ${await mint(signer)}` } });
    let allowed = false;
    for (let i = 0; i < 30 && !allowed; i++) {
      allowed = (await t.check(request)).status.code === 0;
      if (!allowed) await new Promise((r) => setTimeout(r, 200));
    }
    expect(allowed, 'the next scheduled refresh loaded the keys').to.equal(true);
    expect(requests).to.be.at.least(2);
  });
});
