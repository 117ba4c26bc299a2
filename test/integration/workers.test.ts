/**
 * `keybroker serve --workers 2`, as a real process tree: two workers share one Unix
 * socket; SIGHUP reloads both; a killed worker is replaced; SIGTERM drains both.
 * Each worker serves its own metrics (port + slot), which is how the test tells them apart.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { authorizationClient, baseConfig, callCheck, TEST_KEYS } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { freePort } from '../helpers/envoy.ts';
import { expectNoCanary } from '../helpers/canary.ts';
import { runCli, spawnCli, type Spawned } from '../helpers/process.ts';
import { poll } from '../helpers/poll.ts';
import { availableCpus } from '../../src/server/workers.ts';

describe('serve --workers', function () {
  this.timeout(120_000);

  const dir = mkdtempSync(join(tmpdir(), 'keybroker-workers-'));
  const socket = join(dir, 'authz.sock');
  const adminSocket = join(dir, 'admin.sock');
  const configFile = join(dir, 'keybroker.yaml');
  let metricsPort: number;
  let served: Spawned;

  const writeConfig = (extraRule?: Record<string, unknown>) => {
    const config = baseConfig();
    if (extraRule) (config['policy'] as unknown[]).push(extraRule);
    writeFileSync(
      configFile,
      stringify({
        ...config,
        listen: `unix://${socket}`,
        admin: { listen: `unix://${adminSocket}` },
        telemetry: { metrics: { prometheus: { port: metricsPort } } },
        shutdown: { drainDelay: '0s', grace: '5s' },
      }),
    );
  };
  const scrape = async (slot: number) => (await fetch(`http://127.0.0.1:${metricsPort + slot}/metrics`)).text();
  const checksOf = (text: string) => Number(/^keybroker_checks_total\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? 0);
  const policyOf = (text: string) => /^keybroker_policy_info\{policy_version="([^"]+)"\} 1$/m.exec(text)?.[1];

  before(async () => {
    metricsPort = await freePort();
    writeFileSync(join(dir, 'keys.yaml'), stringify(TEST_KEYS), { mode: 0o600 });
    chmodSync(join(dir, 'keys.yaml'), 0o600);
    writeConfig();
    served = spawnCli(['serve', '-c', configFile, '--workers', '2']);
    await poll(
      async () => {
        await scrape(0);
        await scrape(1);
      },
      { timeoutMs: 60_000, intervalMs: 200, describe: () => new Error(`workers did not come up:\n${served.output()}`) },
    );
  });

  after(() => {
    served.child.kill('SIGKILL');
    expectNoCanary(served.output(), "the workers' output");
    rmSync(dir, { recursive: true, force: true });
  });

  it('defaults to the CPUs available to the process, cgroup quota included', () => {
    const cpuMax = join(dir, 'cpu.max');
    writeFileSync(cpuMax, '150000 100000\n');
    expect(availableCpus(cpuMax)).to.equal(Math.min(2, availableCpus(join(dir, 'absent'))));
    writeFileSync(cpuMax, 'max 100000\n');
    expect(availableCpus(cpuMax)).to.equal(availableCpus(join(dir, 'absent')));
  });

  it('refuses a bad --workers value and a bad configuration before forking', () => {
    expect(runCli(['serve', '-c', configFile, '--workers', '0']).code).to.equal(2);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'trust: {}\n');
    const result = runCli(['serve', '-c', bad, '--workers', '2']);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/trust/);
    expect(result.stdout).to.not.match(/starting workers/);
  });

  it('shares one socket (mode 0660) between the workers, and both answer', async () => {
    expect(statSync(socket).mode & 0o777).to.equal(0o660);
    // Connections are handed to the workers in turn: open several.
    const clients = Array.from({ length: 6 }, () => authorizationClient(`unix://${socket}`, undefined, { 'grpc.use_local_subchannel_pool': 1 }));
    try {
      for (let round = 0; round < 5; round++) {
        const answers = await Promise.all(clients.map((c) => callCheck(c, envoyCheckRequest())));
        for (const a of answers) expect(a.status?.code ?? 0).to.equal(0);
      }
    } finally {
      for (const c of clients) c.close();
    }
    const [first, second] = [checksOf(await scrape(0)), checksOf(await scrape(1))];
    expect(first + second).to.equal(30);
    expect(first, 'worker 0 answered').to.be.greaterThan(0);
    expect(second, 'worker 1 answered').to.be.greaterThan(0);
  });

  it('reloads every worker on SIGHUP', async () => {
    const before = policyOf(await scrape(0));
    expect(policyOf(await scrape(1))).to.equal(before);
    writeConfig({ id: 'extra', identities: ['spiffe://example.org/ns/x/*'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models'] });
    served.child.kill('SIGHUP');
    await poll(
      async () => {
        const [a, b] = [policyOf(await scrape(0)), policyOf(await scrape(1))];
        if (a === before || b === before || a !== b) throw new Error(`versions ${a} ${b}`);
      },
      { timeoutMs: 20_000 },
    );
  });

  it('reloads every worker when the admin API reloads the one it reached', async () => {
    const before = policyOf(await scrape(0));
    writeConfig({ id: 'via-admin', identities: ['spiffe://example.org/ns/y/*'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models'] });
    const result = runCli(['reload', '--server', `unix://${adminSocket}`]);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    await poll(
      async () => {
        const [a, b] = [policyOf(await scrape(0)), policyOf(await scrape(1))];
        if (a === before || b === before || a !== b) throw new Error(`versions ${a} ${b}`);
      },
      { timeoutMs: 20_000 },
    );
  });

  it('replaces a worker that dies', async () => {
    const outputBefore = served.output().length;
    const workerPids = execFileSync('pgrep', ['-P', String(served.child.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    expect(workerPids).to.have.length(2);
    process.kill(workerPids[0]!, 'SIGKILL');
    await poll(
      async () => {
        if (!/worker exited unexpectedly; starting another/.test(served.output().slice(outputBefore))) throw new Error('no restart yet');
        await scrape(0);
        await scrape(1);
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const client = authorizationClient(`unix://${socket}`);
    try {
      expect((await callCheck(client, envoyCheckRequest())).status?.code ?? 0).to.equal(0);
    } finally {
      client.close();
    }
  });

  it('answers `keybroker health` with SERVING (exit 0)', () => {
    const result = runCli(['health', '-c', configFile]);
    expect(result.stdout.trim(), result.stderr).to.equal('SERVING');
    expect(result.code).to.equal(0);
  });

  it('drains every worker on SIGTERM, exits 0 and removes the socket', async () => {
    served.child.kill('SIGTERM');
    expect(await served.exited()).to.equal(0);
    expect(served.output()).to.match(/stopping workers/);
    expect((served.output().match(/keybroker stopped/g) ?? []).length).to.equal(2);
    expect(existsSync(socket)).to.equal(false);
    expect(existsSync(adminSocket)).to.equal(false);
  });

  it('reports NOT_SERVING during the drain delay after SIGTERM, still answering Check', async () => {
    const single = join(dir, 'single.yaml');
    const singleSocket = join(dir, 'single.sock');
    writeFileSync(single, stringify({ ...baseConfig(), listen: `unix://${singleSocket}`, shutdown: { drainDelay: '20s', grace: '1s' } }));
    const one = spawnCli(['serve', '-c', single, '--workers', '1']);
    try {
      await one.waitFor(/keybroker listening/, 60_000);
      expect(runCli(['health', '-c', single]).code).to.equal(0);
      one.child.kill('SIGTERM');
      await one.waitFor(/reporting NOT_SERVING/, 20_000);
      const result = runCli(['health', '-c', single]);
      expect(result.stdout.trim()).to.equal('NOT_SERVING');
      expect(result.code).to.equal(1);
      const client = authorizationClient(`unix://${singleSocket}`);
      try {
        expect((await callCheck(client, envoyCheckRequest())).status?.code ?? 0).to.equal(0);
      } finally {
        client.close();
      }
    } finally {
      one.child.kill('SIGKILL');
      await one.exited();
    }
  });
});
