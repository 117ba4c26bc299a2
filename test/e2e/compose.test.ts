/**
 * docker-compose.yml is for users and is not run here (no Docker engine). It is validated
 * with Debian's docker-compose, and its parts are run outside Docker with the same
 * commands: the setup script (PKI, rendered Envoy config, which Envoy must accept), the
 * OpenBao bootstrap against a real OpenBao over TLS followed by keybroker serving a key
 * from it with the compose configuration, and the SPIRE join-token bootstrap against a
 * real SPIRE server, whose agent must then attest. What remains untested: the images
 * themselves, their users and volume ownership, and container networking.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT, spawnCli, spawnProcess, type Spawned } from '../helpers/process.ts';
import { freePort, validateEnvoyConfig } from '../helpers/envoy.ts';
import { BAO_BIN } from '../helpers/vault.ts';
import { SPIRE_AGENT, SPIRE_SERVER } from '../helpers/spire.ts';
import { authorizationClient, callCheck } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';
import { exitWatch, poll } from '../helpers/poll.ts';
import { setup } from '../../examples/compose/setup.ts';

const composeFile = join(ROOT, 'docker-compose.yml');
const COMPOSE = join(ROOT, 'examples/compose');

interface ComposeService {
  image?: string;
  build?: unknown;
  user?: string;
  environment?: Record<string, string>;
}
const compose = () => parse(readFileSync(composeFile, 'utf8')) as { services: Record<string, ComposeService> };

describe('docker-compose.yml', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-compose-'));
  const running: Spawned[] = [];
  after(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited()));
  });

  it('passes docker-compose config -q', () => {
    execFileSync('docker-compose', ['-f', composeFile, 'config', '-q'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  });

  it('is rejected by the same check when broken (the check can fail)', () => {
    const broken = join(dir, 'docker-compose.yml');
    writeFileSync(broken, readFileSync(composeFile, 'utf8').replace('    image: envoyproxy/envoy', '    imagez: envoyproxy/envoy'));
    const result = spawnSync('docker-compose', ['-f', broken, 'config', '-q'], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status).to.not.equal(0);
    expect(result.stderr).to.include('imagez');
  });

  it('runs the Envoy the tests run, keybroker and Envoy sharing one group, spans to the OTLP gRPC port', () => {
    const { services } = compose();
    expect(Object.keys(services)).to.include.members([
      'setup',
      'envoy',
      'keybroker',
      'openbao',
      'openbao-init',
      'fake-provider',
      'demo-agent',
      'spire-server',
      'spire-bootstrap',
      'spire-agent',
      'jaeger',
    ]);
    const installed = /ENVOY_VERSION=(\S+)/.exec(readFileSync(join(ROOT, 'scripts/install-tools.sh'), 'utf8'))?.[1];
    expect(services['envoy']!.image).to.equal(`envoyproxy/envoy:v${installed}`);
    expect(services['keybroker']!.user).to.equal('1000:1337');
    expect(services['envoy']!.environment?.['ENVOY_GID']).to.equal('1337');
    const config = parse(readFileSync(join(COMPOSE, 'keybroker.yaml'), 'utf8')) as { telemetry: { traces: { protocol: string; endpoint: string } }; keys: { address: string } };
    expect(config.telemetry.traces).to.include({ protocol: 'grpc', endpoint: 'http://jaeger:4317' });
    expect(config.keys.address).to.match(/^https:\/\/openbao:8200$/);
  });

  it('never puts keybroker where an agent can reach it: Check only on a socket Envoy alone shares', () => {
    type Service = { volumes?: string[]; ports?: unknown[]; network_mode?: string; pid?: string; ipc?: string };
    // merge: services built on x-node (<<: *node) inherit its volumes.
    const { services } = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as { services: Record<string, Service> };
    const config = parse(readFileSync(join(COMPOSE, 'keybroker.yaml'), 'utf8')) as { listen: unknown };
    expect(config.listen, 'keybroker listens on a Unix socket').to.match(/^unix:\/\/\/run\/keybroker\//);
    const keybroker = services['keybroker']!;
    expect(keybroker.ports, 'keybroker publishes no port').to.equal(undefined);
    for (const shared of ['network_mode', 'pid', 'ipc'] as const) expect(keybroker[shared], `keybroker ${shared}`).to.equal(undefined);
    const socketVolume = keybroker.volumes?.find((v) => v.endsWith(':/run/keybroker'))?.split(':')[0];
    expect(socketVolume, 'the socket directory is a volume').to.be.a('string');
    const sharing = Object.entries(services)
      .filter(([, s]) => (s.volumes ?? []).some((v) => v.split(':')[0] === socketVolume))
      .map(([name]) => name);
    expect(sharing.sort(), 'who can reach the socket').to.deep.equal(['envoy', 'keybroker']);
  });

  it('setup makes the PKI and an Envoy config that Envoy accepts', () => {
    const pki = join(dir, 'pki');
    const envoyDir = join(dir, 'envoy');
    setup(pki, envoyDir);
    for (const file of ['gateway.crt', 'gateway.key', 'research.crt', 'intern.crt', 'providers-ca.crt', 'api.openai.com.crt', 'api.anthropic.com.key'])
      expect(existsSync(join(pki, file)), file).to.equal(true);
    expect(statSync(join(pki, 'gateway.key')).mode & 0o777).to.equal(0o400);
    if (process.getuid?.() === 0) expect(statSync(join(pki, 'gateway.key')).uid).to.equal(101);
    // In the container the access log is /dev/stdout, which a test's piped child cannot open.
    const rendered = join(dir, 'envoy-validate.yaml');
    writeFileSync(rendered, readFileSync(join(envoyDir, 'envoy.yaml'), 'utf8').replace('path: /dev/stdout', `path: ${join(dir, 'access.log')}`));
    expect(validateEnvoyConfig(rendered)).to.match(/configuration .* OK/);
  });

  it('bootstraps OpenBao over TLS with its script, and keybroker serves the key with the compose config', async () => {
    if (!existsSync(BAO_BIN)) throw new Error(`OpenBao is not installed at ${BAO_BIN}: run bash scripts/install-tools.sh`);
    const port = await freePort();
    const tls = join(dir, 'openbao-tls');
    mkdirSync(tls); // a volume in compose
    const token = 'compose-test-root';
    const bao = spawnProcess(BAO_BIN, ['server', '-dev', '-dev-tls', `-dev-tls-cert-dir=${tls}`, `-dev-listen-address=127.0.0.1:${port}`, `-dev-root-token-id=${token}`, '-dev-no-store-token'], {
      env: { PATH: process.env['PATH'] ?? '', HOME: dir },
    });
    running.push(bao);
    const credentials = join(dir, 'credentials');
    const env = {
      ...process.env,
      BAO: BAO_BIN,
      BAO_ADDR: `https://127.0.0.1:${port}`,
      BAO_TOKEN: token,
      BAO_CACERT: join(tls, 'vault-ca.pem'),
      CREDENTIALS_DIR: credentials,
      OPENAI_KEY: CANARY_KEY,
      ANTHROPIC_KEY: 'sk-ant-compose-test',
      HOME: dir,
    };
    await poll(() => void statSync(join(tls, 'vault-ca.pem')), { timeoutMs: 30_000, stop: exitWatch(bao.exited(), () => new Error(bao.output())) });
    const init = spawnSync('sh', [join(COMPOSE, 'openbao-init.sh')], { env, encoding: 'utf8', timeout: 90_000 });
    expect(init.status, init.stderr).to.equal(0);
    expect(statSync(join(credentials, 'secret-id')).mode & 0o777).to.equal(0o440);

    const socket = join(dir, 'authz.sock');
    const config = join(dir, 'keybroker.yaml');
    writeFileSync(
      config,
      readFileSync(join(COMPOSE, 'keybroker.yaml'), 'utf8')
        .replace('unix:///run/keybroker/authz.sock', `unix://${socket}`)
        .replace('https://openbao:8200', `https://127.0.0.1:${port}`)
        .replace('/openbao-tls/vault-ca.pem', join(tls, 'vault-ca.pem'))
        .replace(/\/etc\/keybroker\/vault\//g, `${credentials}/`)
        .replace(/telemetry:[\s\S]*$/, ''),
    );
    const keybroker = spawnCli(['serve', '-c', config, '--workers', '1']);
    running.push(keybroker);
    await keybroker.waitFor(/keybroker listening/, 60_000);
    const client = authorizationClient(`unix://${socket}`);
    try {
      const answer = await callCheck(client, envoyCheckRequest({ principal: 'spiffe://demo.local/agent/research', host: 'envoy' }));
      const headers = (answer.ok_response?.headers ?? []).map((h) => [h.header?.key, h.header?.value]);
      expect(answer.status?.code ?? 0, JSON.stringify(answer.denied_response?.body ?? '')).to.equal(0);
      expect(headers).to.deep.include(['authorization', `Bearer ${CANARY_KEY}`]);
    } finally {
      client.close();
    }
    expectNoCanary(keybroker.output(), 'keybroker output');
    expectNoCanary(init.stdout + init.stderr, 'openbao-init output');
  });

  it('enrols a SPIRE agent with a join token from its bootstrap script', async () => {
    for (const binary of [SPIRE_SERVER, SPIRE_AGENT]) if (!existsSync(binary)) throw new Error(`${binary} is missing: run bash scripts/install-tools.sh`);
    const spire = join(dir, 'spire');
    mkdirSync(join(spire, 'server'), { recursive: true });
    const [serverPort, bundlePort] = [await freePort(), await freePort()];
    const serverSocket = join(spire, 'server.sock');
    writeFileSync(
      join(spire, 'server.conf'),
      readFileSync(join(COMPOSE, 'spire/server.conf'), 'utf8')
        .replace('bind_address = "0.0.0.0"', 'bind_address = "127.0.0.1"')
        .replace('bind_port = "8081"', `bind_port = "${serverPort}"\n  socket_path = "${serverSocket}"`)
        .replace(/\/var\/lib\/spire\/server/g, join(spire, 'server'))
        .replace(/address = "0\.0\.0\.0"\n(\s+)port = 8443/, `address = "127.0.0.1"\n$1port = ${bundlePort}`),
    );
    const server = spawnProcess(SPIRE_SERVER, ['run', '-config', join(spire, 'server.conf')]);
    running.push(server);
    const bootstrap = join(spire, 'bootstrap');
    const env = {
      ...process.env,
      SPIRE_SERVER: SPIRE_SERVER,
      SPIRE_SERVER_SOCKET: serverSocket,
      BOOTSTRAP_DIR: bootstrap,
      SPIRE_SERVER_ADDRESS: '127.0.0.1',
      SPIRE_SERVER_PORT: String(serverPort),
      AGENT_DATA_DIR: join(spire, 'agent'),
      AGENT_SOCKET: join(spire, 'agent.sock'),
    };
    const result = spawnSync('sh', [join(COMPOSE, 'spire/bootstrap.sh')], { env, encoding: 'utf8', timeout: 90_000 });
    expect(result.status, result.stderr + server.output()).to.equal(0);
    const agentConf = readFileSync(join(bootstrap, 'agent.conf'), 'utf8');
    expect(agentConf).to.match(/join_token = "[0-9a-f-]{36}"/);
    expect(statSync(join(bootstrap, 'agent.conf')).mode & 0o077).to.equal(0);

    mkdirSync(join(spire, 'agent'), { recursive: true });
    const agent = spawnProcess(SPIRE_AGENT, ['run', '-config', join(bootstrap, 'agent.conf')]);
    running.push(agent);
    await poll(() => void execFileSync(SPIRE_AGENT, ['healthcheck', '-socketPath', join(spire, 'agent.sock')], { stdio: 'ignore', timeout: 5000 }), {
      timeoutMs: 60_000,
      stop: exitWatch(agent.exited(), () => new Error(`spire-agent exited:\n${agent.output()}`)),
      describe: () => new Error(`spire-agent did not attest:\n${agent.output()}`),
    });
    const entries = execFileSync(SPIRE_SERVER, ['entry', 'show', '-socketPath', serverSocket], { encoding: 'utf8' });
    expect(entries).to.include('spiffe://demo.local/agent/research').and.include('spiffe://demo.local/envoy/egress');
  });
});
