/**
 * The command line's contract: help and --version, the documented exit codes, JSON
 * output, "did you mean", paths relative to the config file, TTLs the config would refuse,
 * and the friendly errors a newcomer meets first (address in use, missing key file).
 */
import { expect } from 'chai';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { decodeJwt } from 'jose';
import { baseConfig, TEST_KEYS } from '../helpers/broker.ts';
import { expectNoCanary } from '../helpers/canary.ts';
import { ROOT, runCli, spawnCli, spawnProcess } from '../helpers/process.ts';
import { poll } from '../helpers/poll.ts';

const dirs: string[] = [];
function configDir(config: Record<string, unknown>, listen?: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-cli-shape-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'keys.yaml'), stringify(TEST_KEYS), { mode: 0o600 });
  const file = join(dir, 'keybroker.yaml');
  writeFileSync(file, stringify({ listen: listen ?? `unix://${join(dir, 'authz.sock')}`, ...config }));
  return { dir, file };
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

describe('keybroker help, --help and --version', function () {
  this.timeout(60_000);
  it('--version prints the package version and exits 0', () => {
    const result = runCli(['--version']);
    expect(result.code).to.equal(0);
    expect(result.stdout.trim()).to.equal(`keybroker ${pkg.version}`);
  });

  it('help lists every command with its summary and the exit codes, on stdout', () => {
    const result = runCli(['help']);
    expect(result.code).to.equal(0);
    for (const name of ['serve', 'validate', 'explain', 'token']) expect(result.stdout).to.match(new RegExp(`^  ${name}\\s+\\S`, 'm'));
    expect(result.stdout).to.match(/3\s+denied/);
    expect(result.stdout).to.match(/4\s+the request names a destination or identity/);
  });

  it('every listed command answers --help on stdout with exit 0; -h and `help CMD` too', function () {
    this.timeout(120_000);
    const names = [...runCli(['help']).stdout.matchAll(/^ {2}([a-z][a-z-]*)\s{2,}/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
    expect(names.length).to.be.greaterThan(3);
    for (const name of names) {
      for (const args of name === 'explain'
        ? [
            [name, '--help'],
            [name, '-h'],
            ['help', name],
          ]
        : [[name, '--help']]) {
        const result = runCli(args);
        expect(result.code, args.join(' ')).to.equal(0);
        expect(result.stdout, args.join(' ')).to.match(new RegExp(`^usage: keybroker ${name}`));
        expect(result.stderr).to.equal('');
      }
    }
  });

  it('an unknown command or option exits 2 with "did you mean"', () => {
    const command = runCli(['explian']);
    expect(command.code).to.equal(2);
    expect(command.stderr).to.include('did you mean "explain"');
    const option = runCli(['explain', '--identty', 'x']);
    expect(option.code).to.equal(2);
    expect(option.stderr).to.include('did you mean "--identity"');
    const missing = runCli(['validate']);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('--config is required');
  });
});

describe('keybroker explain: exit codes, paths, JSON', function () {
  this.timeout(60_000);
  const { file } = configDir(baseConfig());
  const explain = (...args: string[]) => runCli(['explain', '-c', file, '--method', 'POST', ...args]);

  it('takes the URL path the agent uses, the path after the prefix, or a full URL', () => {
    for (const path of ['/openai/v1/embeddings', '/v1/embeddings', 'https://gateway.local:10001/openai/v1/embeddings?x=1']) {
      const result = explain('--identity', 'spiffe://example.org/ns/research/a', '--destination', 'openai', '--path', path);
      expect(result.code, `${path}: ${result.stdout}`).to.equal(0);
      expect(result.stdout).to.match(/path:\s+\/openai\/v1\/embeddings\n/);
    }
  });

  it('a full URL keeps its host as :authority, so a host the destination does not know is denied', () => {
    const result = explain('--identity', 'spiffe://example.org/ns/research/a', '--destination', 'openai', '--path', 'https://elsewhere.example/openai/v1/embeddings');
    expect(result.code).to.equal(3);
    expect(result.stdout).to.match(/reason:\s+authority_mismatch/);
  });

  it('exits 3 for a policy deny, 4 for an unknown destination (listing the known ones) or trust domain', () => {
    expect(explain('--identity', 'spiffe://example.org/ns/other/a', '--destination', 'openai', '--path', '/v1/embeddings').code).to.equal(3);
    const destination = explain('--identity', 'spiffe://example.org/ns/research/a', '--destination', 'opneai', '--path', '/v1/embeddings');
    expect(destination.code).to.equal(4);
    expect(destination.stderr).to.include('did you mean "openai"');
    expect(destination.stderr).to.include('configured: openai, anthropic, tools');
    const identity = explain('--identity', 'spiffe://elsewhere.org/ns/research/a', '--destination', 'openai', '--path', '/v1/embeddings');
    expect(identity.code).to.equal(4);
    expect(identity.stdout).to.match(/reason:\s+trust_domain_unknown/);
  });

  it('--json prints the decision record, with the key id and never the key', () => {
    const result = explain('--identity', 'spiffe://example.org/ns/research/a', '--destination', 'openai', '--path', '/v1/embeddings', '--json');
    expect(result.code).to.equal(0);
    const record = JSON.parse(result.stdout) as Record<string, string>;
    expect(record).to.include({ decision: 'allow', reason: 'allowed', rule: 'research-openai', destination: 'openai' });
    expect(record.keyId).to.match(/^file:openai\/prod#[0-9a-f]{12}$/);
    expectNoCanary(result.stdout + result.stderr, 'explain --json');
  });

  it('with no key file yet, answers from policy with the key named but not read, and says why', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-cli-shape-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'demo-jwt'));
    for (const f of ['keybroker.yaml', 'demo-jwt/bundle.jwks']) copyFileSync(join(ROOT, 'examples', f), join(dir, f));
    const file = join(dir, 'keybroker.yaml');
    const ask = (identity: string, ...more: string[]) =>
      runCli(['explain', '-c', file, '--identity', `spiffe://demo.local/agent/${identity}`, '--destination', 'openai', '--path', '/openai/v1/chat/completions', ...more]);
    const allowed = ask('research');
    expect(allowed.stderr).to.not.include('ENOENT');
    expect(allowed.code, allowed.stderr).to.equal(0);
    expect(allowed.stdout).to.match(/decision:\s+allow\n/);
    expect(allowed.stdout).to.match(/rule:\s+research-agents-openai/);
    expect(allowed.stdout).to.match(/key id:\s+file:openai\/prod#not-read\n/);
    expect(allowed.stdout).to.include(`detail:         key not read: key file ${join(dir, 'keys.yaml')} does not exist`);
    expect(existsSync(join(dir, 'keys.yaml')), 'explain creates no key file').to.equal(false);
    const record = JSON.parse(ask('research', '--json').stdout) as Record<string, string>;
    expect(record).to.include({ decision: 'allow', keyId: 'file:openai/prod#not-read' });
    // A deny is the policy's, with no key to name.
    const denied = ask('intern');
    expect(denied.code).to.equal(3);
    expect(denied.stdout).to.match(/reason:\s+no_matching_grant/);
    expect(denied.stdout).to.match(/key id:\s+\(none\)/);
  });

  it('with no key file yet, a destination that exchanges its key for an OAuth2 token is key_unavailable (no stand-in is sent)', () => {
    const config = baseConfig();
    const destinations = config.destinations as Record<string, unknown>;
    // Nothing listens at the token URL: a stand-in secret sent there would show as a connection error.
    destinations['saas'] = { upstream: 'api.saas.example', key: 'saas/client', inject: { oauth2: { tokenUrl: 'https://127.0.0.1:9/token', clientId: 'keybroker' } } };
    (config.policy as unknown[]).push({ id: 'research-saas', identities: ['spiffe://example.org/ns/research/*'], destinations: ['saas'], methods: ['GET'], paths: ['/v1/*'] });
    const { file, dir } = configDir(config);
    rmSync(join(dir, 'keys.yaml'));
    const result = runCli(['explain', '-c', file, '--identity', 'spiffe://example.org/ns/research/a', '--destination', 'saas', '--method', 'GET', '--path', '/v1/x']);
    expect(result.code, result.stdout + result.stderr).to.equal(3);
    expect(result.stdout).to.match(/rule:\s+research-saas/);
    expect(result.stdout).to.match(/reason:\s+key_unavailable/);
    expect(result.stdout).to.include(`key file ${join(dir, 'keys.yaml')} does not exist`);
  });
});

describe('keybroker validate: JSON and "did you mean"', function () {
  this.timeout(60_000);
  it('a key file that does not exist yet is a warning: the configuration is still checked', () => {
    const { dir, file } = configDir(baseConfig());
    rmSync(join(dir, 'keys.yaml'));
    const result = runCli(['validate', '-c', file]);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/: valid \(policy sha256:[0-9a-f]+, 5 rules, 3 destinations\)\n$/);
    expect(result.stderr).to.include(`WARNING: key file ${join(dir, 'keys.yaml')} does not exist; create it with mode 0600`);
    expect(result.stderr).to.include('serve refuses to start until it exists');
    const json = JSON.parse(runCli(['validate', '-c', file, '--json']).stdout) as { valid: boolean; warnings: string[] };
    expect(json.valid).to.equal(true);
    expect(json.warnings.join('\n')).to.include('does not exist');
    // Still refused: a broken configuration, whatever the key file.
    writeFileSync(file, readFileSync(file, 'utf8').replace('destinations:', 'destinationz:'));
    expect(runCli(['validate', '-c', file]).code).to.equal(1);
  });

  it('--json says valid with the policy version and counts', () => {
    const { file } = configDir(baseConfig());
    const result = runCli(['validate', '-c', file, '--json']);
    expect(result.code).to.equal(0);
    expect(JSON.parse(result.stdout)).to.deep.include({ valid: true, rules: 5, destinations: 3 });
  });

  it('an unknown key gets the closest known key, in text and in JSON', () => {
    const config = baseConfig();
    const destinations = config.destinations as Record<string, Record<string, unknown>>;
    destinations.openai = { ...destinations.openai, routPrefix: '/x' };
    const { file } = configDir({ ...config, polcy: [] });
    const text = runCli(['validate', '-c', file]);
    expect(text.code).to.equal(1);
    expect(text.stderr).to.include('destinations.openai.routPrefix: unknown key "routPrefix"; did you mean "routePrefix"?');
    expect(text.stderr).to.include('polcy: unknown key "polcy"; did you mean "policy"?');
    const misnamed = baseConfig();
    (misnamed.policy as Array<Record<string, unknown>>)[0]!.destinations = ['opneai'];
    const destination = runCli(['validate', '-c', configDir(misnamed).file]);
    expect(destination.stderr).to.include('unknown destination "opneai"; did you mean "openai"?');
    const json = runCli(['validate', '-c', file, '--json']);
    expect(json.code).to.equal(1);
    const out = JSON.parse(json.stdout) as { valid: boolean; problems: Array<{ path: string; line: number; message: string }> };
    expect(out.valid).to.equal(false);
    expect(out.problems.find((p) => p.path === 'destinations.openai.routPrefix')?.line).to.be.a('number');
  });
});

describe('keybroker token: relative key path, TTL and audience the config accepts', function () {
  this.timeout(60_000);
  it('resolves a relative --key against the config file directory, from any working directory', () => {
    const { dir, file } = configDir({
      ...baseConfig(),
      trust: { 'example.org': {}, 'partner.example': {}, 'demo.local': { bundle: { file: './bundle.jwks', format: 'spiffe' }, audiences: ['keybroker'], maxTokenLifetime: '10m' } },
    });
    copyFileSync(join(ROOT, 'examples/demo-jwt/signing-key.jwk'), join(dir, 'signing.jwk'));
    copyFileSync(join(ROOT, 'examples/demo-jwt/bundle.jwks'), join(dir, 'bundle.jwks'));
    const result = runCli(['token', '-c', file, '--key', 'signing.jwk', '--identity', 'spiffe://demo.local/agent/research', '--ttl', '10m', '--json'], { cwd: tmpdir() });
    expect(result.code, result.stderr).to.equal(0);
    const minted = JSON.parse(result.stdout) as { token: string; audience: string; expiresAt: string };
    const claims = decodeJwt(minted.token);
    expect(claims.sub).to.equal('spiffe://demo.local/agent/research');
    expect(claims.aud).to.equal('keybroker');
    expect(claims.exp! - claims.iat!).to.equal(600);
  });

  it('refuses a TTL over maxTokenLifetime, saying keybroker would deny it, and an audience it does not accept', () => {
    const ttl = runCli(['token', '--identity', 'spiffe://demo.local/agent/research', '--ttl', '1h']);
    expect(ttl.code).to.equal(2);
    expect(ttl.stderr).to.include('exceeds maxTokenLifetime 15m');
    expect(ttl.stderr).to.include('lifetime_too_long');
    expect(ttl.stdout).to.equal('');
    const audience = runCli(['token', '--identity', 'spiffe://demo.local/agent/research', '--audience', 'other']);
    expect(audience.code).to.equal(2);
    expect(audience.stderr).to.include('audience_mismatch');
    const unknown = runCli(['token', '--identity', 'spiffe://nowhere.local/agent/research']);
    expect(unknown.code).to.equal(4);
    expect(unknown.stderr).to.include('configured: demo.local');
  });
});

describe('keybroker serve: errors a person can act on', function () {
  this.timeout(60_000);
  it('a TCP port in use is named as such, not "No address added"', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { file } = configDir(baseConfig(), `127.0.0.1:${port}`);
      const result = runCli(['serve', '-c', file]);
      expect(result.code).to.equal(1);
      expect(result.stderr).to.include(`cannot listen on 127.0.0.1:${port}: the address is in use`);
      expect(result.stderr).to.not.include('No address added');
    } finally {
      blocker.close();
    }
  });

  it('a Unix socket another keybroker serves is refused, not stolen', async () => {
    const { file } = configDir(baseConfig());
    const first = spawnCli(['serve', '-c', file, '--workers', '1']);
    try {
      await first.waitFor(/keybroker listening/);
      const second = runCli(['serve', '-c', file]);
      expect(second.code).to.equal(1);
      expect(second.stderr).to.include('the address is in use');
    } finally {
      first.child.kill('SIGTERM');
      expect(await first.exited()).to.equal(0);
    }
  });

  it('a missing key file is named, with what to create', () => {
    const { dir, file } = configDir(baseConfig());
    rmSync(join(dir, 'keys.yaml'));
    const result = runCli(['serve', '-c', file]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include(`key file ${join(dir, 'keys.yaml')} does not exist; create it with mode 0600`);
    expect(result.stderr).to.not.include('ENOENT');
  });
});

describe('npm start', function () {
  this.timeout(90_000);

  it('runs keybroker as the script itself: stopping npm by its PID stops keybroker (no orphan)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-npm-start-'));
    dirs.push(dir);
    const pkgJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'start-copy', version: pkg.version, private: true, type: 'module', scripts: { start: pkgJson.scripts.start } }));
    symlinkSync(join(ROOT, 'src'), join(dir, 'src'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'examples/demo-jwt'), { recursive: true });
    for (const f of ['demo-keys.ts', 'demo-jwt/bundle.jwks']) copyFileSync(join(ROOT, 'examples', f), join(dir, 'examples', f));
    const socket = join(dir, 'authz.sock');
    writeFileSync(join(dir, 'examples/keybroker.yaml'), readFileSync(join(ROOT, 'examples/keybroker.yaml'), 'utf8').replace(/^listen: .*$/m, `listen: unix://${socket}`));

    const npm = spawnProcess('npm', ['start'], { cwd: dir });
    try {
      await npm.waitFor(/keybroker listening/, 60_000);
      expect(await socketAnswers(socket)).to.equal(true);
      npm.child.kill('SIGTERM');
      await npm.exited();
      await poll(
        async () => {
          if (await socketAnswers(socket)) throw new Error('keybroker still answers after npm was stopped');
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      );
    } finally {
      npm.child.kill('SIGKILL');
    }
  });
});

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
