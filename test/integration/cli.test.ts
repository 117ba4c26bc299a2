/** The command line as a user runs it: validate, explain, serve, and the demo in examples/. */
import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { authorizationClient, baseConfig, callCheck, TEST_KEYS } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { expectNoCanary } from '../helpers/canary.ts';
import { ROOT, runCli, spawnCli, spawnProcess } from '../helpers/process.ts';
import { poll } from '../helpers/poll.ts';
import { bundleJson, makeSigner, mint } from '../helpers/tokens.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

function configDir(config: Record<string, unknown>, listen = 'unix://' + 'SOCKET'): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-cli-'));
  writeFileSync(join(dir, 'keys.yaml'), stringify(TEST_KEYS), { mode: 0o600 });
  const file = join(dir, 'keybroker.yaml');
  writeFileSync(file, stringify({ listen: listen.replace('SOCKET', join(dir, 'authz.sock')), ...config }));
  return { dir, file };
}

describe('keybroker validate', () => {
  it('accepts a valid configuration', () => {
    const { file } = configDir(baseConfig());
    const result = runCli(['validate', '-c', file]);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stderr).to.not.include('WARNING');
    expect(result.stdout).to.match(/valid \(policy sha256:[0-9a-f]{16}, 5 rules, 3 destinations\)/);
  });

  it('names the file, line and path of an unknown key, and exits 1', () => {
    const { dir } = configDir({});
    const file = join(dir, 'broken.yaml');
    writeFileSync(
      file,
      [
        'trust:',
        '  example.org: {}',
        'keys: { store: file, file: ./keys.yaml }',
        'destinations:',
        '  openai: { upstream: api.openai.com, inject: openai, key: openai/prod }',
        'policy:',
        '  - id: research',
        '    identities: [spiffe://example.org/ns/research/*]',
        '    destinations: [openai]',
        '    methods: [POST]',
        '    pathz: [/v1/chat/completions]',
        '',
      ].join('\n'),
    );
    const result = runCli(['validate', '-c', file]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include(`${file}:11: policy[0].pathz: unknown key "pathz"`);
    expect(result.stderr).to.include('an allow rule must list its paths');
  });

  it('names the line of a bad value and what was expected', () => {
    const { dir } = configDir({});
    const file = join(dir, 'bad-method.yaml');
    writeFileSync(
      file,
      'trust: { example.org: {} }\nkeys: { store: file, file: ./keys.yaml }\ndestinations: {}\npolicy:\n  - id: r\n    identities: [spiffe://example.org/a]\n    destinations: [openai]\n    methods: [post]\n    paths: [/x]\n',
    );
    const result = runCli(['validate', '-c', file]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include(':8: policy[0].methods[0]: expected an upper-case HTTP method');
    expect(result.stderr).to.include(':7: policy[0].destinations[0]: unknown destination "openai"');
  });

  it('rejects a key file readable by others', () => {
    const { dir, file } = configDir(baseConfig());
    chmodSync(join(dir, 'keys.yaml'), 0o644);
    const result = runCli(['validate', '-c', file]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('chmod 600');
  });

  it('reports a YAML syntax error with its line', () => {
    const { dir } = configDir({});
    const file = join(dir, 'syntax.yaml');
    writeFileSync(file, 'trust:\n  example.org: {}\nkeys: [unclosed\n');
    const result = runCli(['validate', '-c', file]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/syntax\.yaml:\d+: YAML: /);
  });
});

describe('keybroker explain', () => {
  const { file } = configDir(baseConfig());

  it('explains an allow with rule, policy version and key id, never the key', () => {
    const result = runCli(['explain', '-c', file, '--identity', 'spiffe://example.org/ns/research/a', '--destination', 'openai', '--method', 'POST', '--path', '/v1/embeddings']);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.match(/decision:\s+allow/);
    expect(result.stdout).to.match(/rule:\s+research-openai/);
    expect(result.stdout).to.match(/policy version:\s+sha256:/);
    expect(result.stdout).to.match(/key id:\s+file:openai\/prod#[0-9a-f]{12}/);
    expectNoCanary(result.stdout + result.stderr, 'explain output');
  });

  it('explains a denial with its reason and exits 3', () => {
    const result = runCli(['explain', '-c', file, '--identity', 'spiffe://example.org/ns/research/quarantined', '--destination', 'openai', '--method', 'POST', '--path', '/v1/embeddings']);
    expect(result.code).to.equal(3);
    expect(result.stdout).to.match(/reason:\s+denied_by_rule/);
    expect(result.stdout).to.match(/rule:\s+block-quarantined/);
    expectNoCanary(result.stdout + result.stderr, 'explain output');
  });
});

describe('keybroker serve', () => {
  it('refuses a routable address without mTLS and says why', () => {
    const { file } = configDir(baseConfig(), '0.0.0.0:9191');
    const result = runCli(['serve', '-c', file]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('refusing to serve Check on non-loopback address "0.0.0.0:9191" without mTLS');
  });

  it('serves, then on SIGTERM answers every Check in flight, exits 0, and never prints a key', async () => {
    // The Checks must really be in flight when SIGTERM lands: each waits on a bundle refresh
    // (their token's kid is new) that the bundle server holds for a second and a half.
    const ca = createCa('bundle-server');
    const cert = ca.issue('bundle.local', { ips: ['127.0.0.1'] });
    const [first, second] = [await makeSigner('first'), await makeSigner('second')];
    const bundleRequests: number[] = [];
    const bundles = createHttpsServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
      bundleRequests.push(Date.now());
      const body = bundleJson(bundleRequests.length === 1 ? [first] : [first, second]);
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(body), bundleRequests.length === 1 ? 0 : 1500);
    });
    await new Promise<void>((resolve) => bundles.listen(0, '127.0.0.1', resolve));
    const config = baseConfig();
    config['trust'] = { 'example.org': { bundle: { url: `https://127.0.0.1:${(bundles.address() as AddressInfo).port}/jwks`, ca: ca.certFile, refresh: '1h' }, audiences: ['keybroker'] } };
    config['tokens'] = { minBundleRefresh: '0ms' };
    const { dir, file } = configDir(config);
    // One worker: the bundle server's first answer is its start-up load (workers each load).
    const served = spawnCli(['serve', '-c', file, '--workers', '1']);
    const client = authorizationClient(`unix://${join(dir, 'authz.sock')}`);
    try {
      await served.waitFor(/keybroker listening/);
      const withToken = (token: string) => envoyCheckRequest({ principal: '', headers: { authorization: `Bearer ${token}` } });
      expect((await callCheck(client, withToken(await mint(first)))).status.code, 'the connection is up').to.equal(0);
      const token = await mint(second);
      const inflight = Array.from({ length: 20 }, () => callCheck(client, withToken(token)));
      await poll(async () => expect(bundleRequests).to.have.length(2), { timeoutMs: 5000, intervalMs: 20 });
      served.child.kill('SIGTERM');
      const responses = await Promise.allSettled(inflight);
      expect(await served.exited()).to.equal(0);
      expect(served.output()).to.include('keybroker stopped');
      expect(
        responses.map((r) => (r.status === 'fulfilled' ? r.value.status.code : `${r.reason}`)),
        'every Check in flight at SIGTERM is answered',
      ).to.deep.equal(Array(20).fill(0));
      expectNoCanary(served.output(), 'serve output');
    } finally {
      client.close();
      served.child.kill('SIGKILL');
      bundles.closeAllConnections();
      bundles.close();
    }
  });

  it('warns loudly when serving Check on loopback TCP, except for the demo', async function () {
    this.timeout(60_000);
    const { file } = configDir(baseConfig(), '127.0.0.1:0');
    const served = spawnCli(['serve', '-c', file, '--workers', '1']);
    try {
      await served.waitFor(/WARNING: Check is served on loopback TCP/, 45_000);
      expect(served.output()).to.match(/any process sharing this network namespace .* can call Check under any identity/);
    } finally {
      served.child.kill('SIGTERM');
      await served.exited();
    }
    // The demo's own loopback address is not warned about (nor is a Unix socket: `validate` above).
    expect(runCli(['validate', '-c', join(ROOT, 'examples/keybroker.yaml')]).stderr).to.not.include('WARNING: Check is served on loopback');
  });
});

describe('the demo in examples/ (the README walk-through)', function () {
  // Seven CLI processes and a server: on a busy 2-core machine each start takes seconds.
  this.timeout(120_000);

  it('creates its 0600 fake key, serves, and explains research allowed and intern denied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-demo-'));
    mkdirSync(join(dir, 'demo-jwt'));
    for (const f of ['keybroker.yaml', 'demo-keys.ts', 'demo-jwt/bundle.jwks', 'demo-jwt/signing-key.jwk']) copyFileSync(join(ROOT, 'examples', f), join(dir, f));
    const config = join(dir, 'keybroker.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace('listen: 127.0.0.1:9191', `listen: unix://${join(dir, 'authz.sock')}`));

    const keys = spawnProcess(process.execPath, [join(dir, 'demo-keys.ts')]);
    expect(await keys.exited()).to.equal(0);
    const served = spawnCli(['serve', '-c', config, '--workers', '1']);
    try {
      await served.waitFor(/keybroker listening/);
      const explainFor = (who: string) =>
        runCli(['explain', '-c', config, '--identity', `spiffe://demo.local/agent/${who}`, '--destination', 'openai', '--method', 'POST', '--path', '/v1/chat/completions']);
      expect(explainFor('research').stdout).to.match(/decision:\s+allow/);
      expect(explainFor('intern').stdout).to.match(/decision:\s+deny[\s\S]*reason:\s+no_matching_grant/);

      // The SDK-shaped walk-through: a demo JWT-SVID from `keybroker token` as the bearer key.
      const client = authorizationClient(`unix://${join(dir, 'authz.sock')}`);
      try {
        for (const [who, allowed] of [
          ['research', true],
          ['intern', false],
        ] as const) {
          const minted = runCli(['token', '--identity', `spiffe://demo.local/agent/${who}`, '--ttl', '2m', '--key', join(dir, 'demo-jwt/signing-key.jwk')]);
          expect(minted.code, minted.stderr).to.equal(0);
          const token = minted.stdout.trim();
          expect(token.split('.')).to.have.length(3);
          const response = await callCheck(client, envoyCheckRequest({ principal: '', host: 'localhost:10000', headers: { authorization: `Bearer ${token}` } }));
          expect(response.status.code === 0, `${who}: ${JSON.stringify(response.denied_response)}`).to.equal(allowed);
          expect(served.output()).to.not.include(token.split('.')[2]!);
        }
      } finally {
        client.close();
      }
    } finally {
      served.child.kill('SIGTERM');
      expect(await served.exited()).to.equal(0);
    }
  });
});
