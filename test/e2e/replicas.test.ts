/**
 * Replicas behind real Envoy: three keybroker processes (`keybroker serve`) serve the
 * shipped gateway config's keybroker cluster, under a steady stream of agent requests.
 * One is killed with SIGKILL; then every replica is restarted in turn with SIGTERM.
 * The shipped cluster settings (health checks, outlier detection, ext_authz retries)
 * are what keep agents from noticing: the template is used as shipped, with only the
 * endpoint list widened to three sockets.
 */
import { expect } from 'chai';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { baseConfig, TEST_KEYS } from '../helpers/broker.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.ts';
import { fakeProviderValues, startEnvoy, GATEWAY_TEMPLATE, type RunningEnvoy } from '../helpers/envoy.ts';
import { agentRequest } from '../helpers/agent.ts';
import { CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';
import { spawnCli, type Spawned } from '../helpers/process.ts';
import { poll } from '../helpers/poll.ts';

const ENDPOINT = `              - endpoint:
                  address:
                    pipe: { path: {{KEYBROKER_SOCKET}} }
`;

interface Outcome {
  readonly at: number;
  readonly status: number;
  readonly error?: string;
}

describe('keybroker replicas behind real Envoy', function () {
  this.timeout(180_000);

  const dir = mkdtempSync(join(tmpdir(), 'keybroker-replicas-'));
  const trust = createCa('example.org', dir);
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: ['spiffe://example.org/ns/research/summarizer'] });
  const providerCa = createCa('providers', dir);
  const sockets = [1, 2, 3].map((i) => join(dir, `replica-${i}.sock`));
  const replicas: Array<Spawned | undefined> = [];
  const outputs: string[] = [];
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let envoy: RunningEnvoy;

  const startReplica = async (index: number): Promise<Spawned> => {
    const configFile = join(dir, `replica-${index + 1}.yaml`);
    // Shorter than the default drain delay, still longer than one failed probe (1.5 s).
    writeFileSync(configFile, stringify({ ...baseConfig(), listen: `unix://${sockets[index]}`, shutdown: { drainDelay: '2s', grace: '5s' } }));
    // One process per replica: killing it is losing the replica (workers have their own test).
    const replica = spawnCli(['serve', '-c', configFile, '--workers', '1']);
    await replica.waitFor(/keybroker listening/, 60_000);
    replicas[index] = replica;
    return replica;
  };
  const stopReplica = async (index: number, signal: NodeJS.Signals): Promise<number | null> => {
    const replica = replicas[index]!;
    replica.child.kill(signal);
    const code = await replica.exited();
    outputs.push(replica.output());
    replicas[index] = undefined;
    return code;
  };

  /** Envoy's own view of each replica, from its admin API. */
  const healthy = async (socket: string): Promise<boolean> => {
    const text = await (await fetch(`http://127.0.0.1:${envoy.adminPort}/clusters`)).text();
    return text.split('\n').some((l) => l === `keybroker::${socket}::health_flags::healthy`);
  };
  const untilHealthy = (socket: string, want: boolean, timeoutMs = 30_000) =>
    poll(
      async () => {
        if ((await healthy(socket)) !== want) throw new Error(`${socket} is not ${want ? 'healthy' : 'out of rotation'} in Envoy`);
      },
      { timeoutMs, intervalMs: 50 },
    );

  /** Agents calling steadily (4 at a time), until stopped; bounded in count and time. */
  const load = () => {
    const outcomes: Outcome[] = [];
    let stopped = false;
    const deadline = Date.now() + 90_000;
    const loop = async () => {
      while (!stopped && Date.now() < deadline && outcomes.length < 20_000) {
        try {
          const r = await agentRequest({ port: envoy.port, gatewayCa: trust.cert, svid: research, path: '/openai/v1/chat/completions' });
          outcomes.push({ at: Date.now(), status: r.status, ...(r.status === 200 ? {} : { error: r.body.slice(0, 200) }) });
        } catch (error) {
          outcomes.push({ at: Date.now(), status: 0, error: (error as Error).message });
        }
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    return {
      outcomes,
      async stop() {
        stopped = true;
        await Promise.all(loops);
        return outcomes;
      },
    };
  };

  before(async () => {
    openai = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }));
    anthropic = await startFakeProvider('anthropic', providerCa.issue('api.anthropic.com', { dns: ['api.anthropic.com'] }));
    const keysFile = join(dir, 'keys.yaml');
    writeFileSync(keysFile, stringify(TEST_KEYS), { mode: 0o600 });
    chmodSync(keysFile, 0o600);
    for (let i = 0; i < 3; i++) await startReplica(i);

    const shipped = readFileSync(GATEWAY_TEMPLATE, 'utf8');
    expect(shipped.split(ENDPOINT).length, 'the keybroker endpoint of the shipped template').to.equal(2);
    const template = join(dir, 'gateway-3-replicas.yaml');
    writeFileSync(template, shipped.replace(ENDPOINT, ENDPOINT + ENDPOINT.replace('{{KEYBROKER_SOCKET}}', sockets[1]!) + ENDPOINT.replace('{{KEYBROKER_SOCKET}}', sockets[2]!)));
    envoy = await startEnvoy(
      dir,
      {
        GATEWAY_CERT: gateway.certFile,
        GATEWAY_KEY: gateway.keyFile,
        AGENT_CA: trust.certFile,
        TRUST_DOMAIN: 'example.org',
        KEYBROKER_SOCKET: sockets[0]!,
        ...fakeProviderValues(providerCa.certFile, openai.port, anthropic.port),
      },
      template,
    );
    for (const socket of sockets) await untilHealthy(socket, true);
  });

  after(async () => {
    await envoy?.stop();
    for (let i = 0; i < 3; i++) if (replicas[i]) await stopReplica(i, 'SIGINT');
    await openai?.close();
    await anthropic?.close();
    for (const output of outputs) expectNoCanary(output, "a replica's output");
    expectNoCanary(readFileSync(envoy.accessLog, 'utf8'), 'Envoy access log');
    rmSync(dir, { recursive: true, force: true });
  });

  /** Envoy's counters for the keybroker cluster: retries, timeouts, connect failures, ejections. */
  const envoyStats = async () =>
    (
      await fetch(
        `http://127.0.0.1:${envoy.adminPort}/stats?filter=^cluster\\.keybroker\\.(upstream_rq_retry|upstream_rq_retry_success|upstream_rq_timeout|upstream_rq_per_try_timeout|upstream_cx_connect_fail|outlier_detection\\.ejections_enforced_total)$`,
      )
    ).text();

  /** Every request the provider got was decided by a replica: keybroker's key, and an allow in Envoy's access log. */
  const expectEveryDeliveryDecided = async () => {
    const ids = openai.received.map((received) => {
      expect(openai.headerValues(received, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
      return openai.headerValues(received, 'x-request-id')[0]!;
    });
    // Envoy flushes its access log every 100 ms: wait for the last lines.
    const decided = await poll(
      () => {
        const lines = new Map(envoy.accessLogLines().map((l) => [String(l['request_id']), l]));
        const missing = ids.filter((id) => !lines.has(id));
        if (missing.length > 0) throw new Error(`no access log line for ${missing.length} delivered requests, e.g. ${missing[0]}`);
        return lines;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    for (const id of ids) {
      expect(decided.get(id)?.['decision'], `access log for ${id}`).to.equal('allow');
      expect(decided.get(id)?.['decision_id']).to.equal(id);
    }
  };

  it('fails no request when a replica is killed (SIGKILL): Envoy retries its Checks elsewhere', async () => {
    const traffic = load();
    await new Promise((r) => setTimeout(r, 1500));
    const killedAt = Date.now();
    await stopReplica(0, 'SIGKILL');
    await untilHealthy(sockets[0]!, false);
    const outOfRotationMs = Date.now() - killedAt;
    await new Promise((r) => setTimeout(r, 2000));
    const outcomes = await traffic.stop();

    const failed = outcomes.filter((o) => o.status !== 200);
    const lastFailure = failed.at(-1)?.at;
    const report = {
      requests: outcomes.length,
      failed: failed.length,
      failedStatuses: [...new Set(failed.map((o) => o.status))],
      outOfRotationMs,
      errorWindowMs: lastFailure ? lastFailure - killedAt : 0,
    };
    const stats = await envoyStats();
    const counter = (name: string) => Number(new RegExp(`^cluster\\.keybroker\\.${name}: (\\d+)$`, 'm').exec(stats)?.[1] ?? Number.NaN);
    console.log(`      kill -9 of 1 of 3 replicas under load: ${JSON.stringify(report)}\n      Envoy: ${stats.trim().split('\n').join(', ')}`);
    // The Checks in flight on the killed replica (reset) and those sent to it before Envoy
    // took it out (connect failure) are retried on another replica (the GrpcService
    // retry_policy of the shipped config): no agent sees the loss. Every retry found a
    // replica that answered.
    expect(failed, JSON.stringify(failed.slice(0, 3))).to.have.length(0);
    expect(counter('upstream_rq_retry_success')).to.equal(counter('upstream_rq_retry'));
    expect(outcomes.length).to.be.greaterThan(20);
    await expectEveryDeliveryDecided();
  });

  it('rolls every replica with SIGTERM without failing a single request', async () => {
    await startReplica(0);
    await untilHealthy(sockets[0]!, true);
    const traffic = load();
    await new Promise((r) => setTimeout(r, 1000));
    const rolls: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const stopping = stopReplica(i, 'SIGTERM');
      await untilHealthy(sockets[i]!, false);
      expect(await stopping, 'exit code after SIGTERM').to.equal(0);
      expect(outputs.at(-1)).to.match(/reporting NOT_SERVING/);
      await startReplica(i);
      await untilHealthy(sockets[i]!, true);
      rolls.push(Date.now() - started);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const outcomes = await traffic.stop();
    const failed = outcomes.filter((o) => o.status !== 200);
    console.log(
      `      rolling restart of 3 replicas under load: ${JSON.stringify({ requests: outcomes.length, failed: failed.length, perReplicaMs: rolls })}\n      Envoy (both tests): ${(await envoyStats()).trim().split('\n').join(', ')}`,
    );
    expect(failed, JSON.stringify(failed.slice(0, 3))).to.have.length(0);
    expect(outcomes.length).to.be.greaterThan(20);
    await expectEveryDeliveryDecided();
  });
});
