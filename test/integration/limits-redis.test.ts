/**
 * Limits shared through a real Redis by several real keybroker processes (`keybroker
 * serve`, each on its own socket): exact counting under concurrency, window roll-over,
 * hierarchy across processes, operators' overrides, a Redis restart mid-run, and both
 * behaviours when Redis is gone (deny; local at 1/replicas).
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Client } from '@grpc/grpc-js';
import { authorizationClient, baseConfig, callCheck, TEST_KEYS } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { runCli, spawnCli, type Spawned } from '../helpers/process.ts';
import { startRedis, type RunningRedis } from '../helpers/redis.ts';
import { expectNoCanary } from '../helpers/canary.ts';
import type { CheckResponseMessage } from '../../src/envoy/response.ts';
import { RedisLimitStore } from '../../src/limit/redis-store.ts';
import { settleReservation } from '../../src/limit/settle.ts';
import { limitsCommand } from '../../src/cli/limits.ts';

const id = (name: string) => `spiffe://example.org/ns/${name}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Broker {
  readonly process: Spawned;
  readonly client: Client;
}

describe('limits shared through Redis by three keybroker processes', function () {
  this.timeout(60_000);
  let redis: RunningRedis;
  let dir: string;
  let configFile: string;
  const brokers: Broker[] = [];
  let local: Broker | undefined;

  const config = (listen: string, extra: Record<string, unknown> = {}) => ({
    ...baseConfig(),
    listen,
    log: { level: 'info', decisions: false },
    teams: { squad: [id('squad/*')] },
    policy: [
      { id: 'all', identities: [id('*')], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] },
      // The tools key is not in the store: the credential phase denies after limit.
      { id: 'tools', identities: [id('*')], destinations: ['tools'], methods: ['*'], paths: ['/*'] },
    ],
    limits: {
      store: { redis: { url: redis.url, prefix: 'kbtest:', timeout: '2s' } },
      estimate: { inputTokens: 10, outputTokens: 90, costUsd: '0.25' },
      rules: [
        { id: 'shared-budget', identities: [id('shared/*')], per: 'tenant', costUsd: { max: '10.00', per: '1d' } },
        { id: 'rolling', identities: [id('rolling')], per: 'identity', tokens: { total: 300, per: '2s' } },
        { id: 'agent', identities: [id('squad/*')], per: 'identity', requests: { rate: 5, per: '1h' } },
        { id: 'squad', teams: ['squad'], per: 'team', requests: { rate: 7, per: '1h' } },
        { id: 'ops', identities: [id('ops')], per: 'identity', requests: { rate: 2, per: '1h' } },
        { id: 'outage', identities: [id('outage/*')], per: 'tenant', tokens: { total: 3000, per: '1h' } },
        { id: 'slow', identities: [id('slow/*')], per: 'identity', tokens: { total: 3000, per: '1h' } },
        { id: 'settled', identities: [id('settled/*')], per: 'identity', tokens: { output: 1000, per: '1h' }, costUsd: { max: '1.00', per: '1h' } },
      ],
      ...extra,
    },
  });

  const check = (b: Broker, principal: string, deadlineMs?: number) => callCheck(b.client, envoyCheckRequest({ principal }), deadlineMs === undefined ? {} : { deadlineMs });
  // `keybroker limits show`, run in this process (a spawned CLI per look would take seconds).
  const used = async (identity: string, limit: string, metric: string) => {
    const out: string[] = [];
    const errors: string[] = [];
    const code = await limitsCommand.run(['show', '-c', configFile, '--identity', identity, '--json'], { out: (l) => out.push(l), err: (l) => errors.push(l) });
    expect(code, errors.join('\n')).to.equal(0);
    const rows = (JSON.parse(out.join('\n')) as { rows: Array<Record<string, unknown>> }).rows;
    return rows.find((r) => r['limit'] === limit && r['metric'] === metric)?.['used'];
  };
  const start = async (name: string, extra?: Record<string, unknown>): Promise<Broker> => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify(config(`unix://${join(dir, `${name}.sock`)}`, extra)));
    const process = spawnCli(['serve', '-c', file, '--workers', '1']);
    await process.waitFor(/keybroker listening/, 30_000);
    return { process, client: authorizationClient(`unix://${join(dir, `${name}.sock`)}`) };
  };

  before(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'keybroker-limits-'));
    writeFileSync(join(dir, 'keys.yaml'), stringify(TEST_KEYS), { mode: 0o600 });
    configFile = join(dir, 'cli.yaml');
    writeFileSync(configFile, stringify(config(`unix://${join(dir, 'cli.sock')}`)));
    brokers.push(...(await Promise.all(['a', 'b', 'c'].map((n) => start(n)))));
    local = await start('local', { onStoreError: 'local', replicas: 3 });
  });

  after(async () => {
    for (const b of [...brokers, ...(local ? [local] : [])]) {
      b.client.close();
      b.process.child.kill('SIGTERM');
      await b.process.exited();
      expectNoCanary(b.process.output(), 'keybroker output');
    }
    await redis.stop();
  });

  it('grants exactly the budget to 200 concurrent Checks from three processes', async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => check(brokers[i % 3]!, id(`shared/agent-${i % 17}`))));
    const allowed = answers.filter((a) => a.status.code === 0);
    // $10.00 at $0.25 reserved per request: exactly 40, whichever process answered.
    expect(allowed).to.have.length(40);
    expect(answers.filter((a) => deniedBody(a).reason === 'budget_exhausted')).to.have.length(160);
    const shown = runCli(['limits', 'show', '-c', configFile, '--json']);
    expect(shown.code, shown.stderr).to.equal(0);
    const rows = (JSON.parse(shown.stdout) as { rows: Array<Record<string, unknown>> }).rows;
    expect(rows.find((r) => r['limit'] === 'shared-budget')).to.deep.include({ subject: 'tenant', metric: 'cost_usd', used: '10.00', remaining: '0.00' });
  });

  it('waits for Redis before listening, so a new replica does not refuse its first Checks', async () => {
    // A paused Redis accepts the connection but never finishes the handshake: not ready.
    redis.pause();
    const file = join(dir, 'late.yaml');
    writeFileSync(file, stringify(config(`unix://${join(dir, 'late.sock')}`, { store: { redis: { url: redis.url, prefix: 'kbtest:', timeout: '2s', connectTimeout: '20s' } } })));
    const late = spawnCli(['serve', '-c', file, '--workers', '1']);
    const client = authorizationClient(`unix://${join(dir, 'late.sock')}`);
    try {
      await late.waitFor(/waiting for the limit store/, 30_000);
      await sleep(300);
      expect(late.output()).not.to.match(/keybroker listening/);
      redis.resume();
      await late.waitFor(/keybroker listening/, 30_000);
      // Its very first Check is counted in Redis, not refused as limits_unavailable.
      const first = await callCheck(client, envoyCheckRequest({ principal: id('outage/late') }));
      expect(first.status.code, JSON.stringify(deniedBody(first))).to.equal(0);
    } finally {
      redis.resume();
      client.close();
      late.child.kill('SIGTERM');
      await late.exited();
    }
    expectNoCanary(late.output(), 'keybroker output');
  });

  it('starts a new window from zero when the old one ends', async () => {
    // 300 tokens per 2 s window at 100 per request: 3 per window, whatever the process.
    const window = 2000;
    await sleep(window - (Date.now() % window) + 20);
    const first = [];
    for (let i = 0; i < 4; i++) first.push(await check(brokers[i % 3]!, id('rolling')));
    expect(first.map((a) => a.status.code === 0)).to.deep.equal([true, true, true, false]);
    expect(deniedBody(first[3]!).reason).to.equal('budget_exhausted');
    await sleep(window - (Date.now() % window) + 20);
    expect((await check(brokers[1]!, id('rolling'))).status.code).to.equal(0);
  });

  it('applies the agent and team limits across processes: the tightest wins', async () => {
    const results: CheckResponseMessage[] = [];
    // Agent one may make 5, but the squad shares 7.
    for (let i = 0; i < 6; i++) results.push(await check(brokers[i % 3]!, id('squad/one')));
    expect(results.map((a) => a.status.code === 0)).to.deep.equal([true, true, true, true, true, false]);
    expect(deniedBody(results[5]!).reason).to.equal('rate_limited');
    const two = [];
    for (let i = 0; i < 3; i++) two.push(await check(brokers[(i + 1) % 3]!, id('squad/two')));
    expect(two.map((a) => a.status.code === 0)).to.deep.equal([true, true, false]);
  });

  it("takes an operator's override at once in every process, records who made it, and resets", async () => {
    for (let i = 0; i < 2; i++) expect((await check(brokers[i]!, id('ops'))).status.code).to.equal(0);
    expect(deniedBody(await check(brokers[2]!, id('ops'))).reason).to.equal('rate_limited');
    const set = runCli(['limits', 'set', '-c', configFile, '--limit', 'ops', '--identity', id('ops'), '--requests', '4', '--by', 'alice']);
    expect(set.code, set.stderr).to.equal(0);
    expect(JSON.parse(set.stdout)).to.deep.include({ msg: 'limit override set' });
    expect(JSON.parse(set.stdout).audit).to.deep.include({ action: 'limits set', limit: 'ops', subject: `identity:${id('ops')}`, metric: 'requests', newLimit: '4', by: 'alice' });
    // One running keybroker writes it into its decision log; one, not every replica.
    const logged = () =>
      [...brokers, local!].flatMap((b) =>
        b.process
          .output()
          .split('\n')
          .filter((l) => l.includes('"msg":"limit override set"') && l.includes('"by":"alice"')),
      );
    for (let i = 0; i < 40 && logged().length === 0; i++) await sleep(100);
    await sleep(1200); // another poll round of every replica: still one line
    expect(logged()).to.have.length(1);
    expect(JSON.parse(logged()[0]!)).to.deep.include({ level: 30, service: 'keybroker', msg: 'limit override set' });
    expect(JSON.parse(logged()[0]!).audit).to.deep.include({ action: 'limits set', limit: 'ops', newLimit: '4', by: 'alice' });
    // The bucket's level carries over; a reset gives the new limit's full burst.
    const reset = runCli(['limits', 'reset', '-c', configFile, '--limit', 'ops', '--identity', id('ops'), '--by', 'bob']);
    expect(reset.code, reset.stderr).to.equal(0);
    expect(JSON.parse(reset.stdout).audit).to.deep.include({ action: 'limits reset', by: 'bob' });
    const again = [];
    for (let i = 0; i < 3; i++) again.push(await check(brokers[i]!, id('ops')));
    // reset also removed the override: back to 2.
    expect(again.map((a) => a.status.code === 0)).to.deep.equal([true, true, false]);
    expect(runCli(['limits', 'set', '-c', configFile, '--limit', 'ops', '--identity', id('ops'), '--requests', '9']).code).to.equal(0);
    await runCli(['limits', 'reset', '-c', configFile, '--limit', 'ops', '--identity', id('ops')]);
    expect(runCli(['limits', 'set', '-c', configFile, '--limit', 'ops', '--team', 'squad', '--requests', '9']).stderr).to.match(/counts per identity: name the counter with --identity/);
    expect(runCli(['limits', 'set', '-c', configFile, '--limit', 'ops', '--identity', id('ops'), '--cost-usd', '9']).stderr).to.match(/has no cost usd counter/);
  });

  it("answers within the Check's deadline while Redis hangs: 503 (deny), counted locally (local); late reservations are given back", async () => {
    // Connections up and the script loaded in both.
    expect((await check(brokers[0]!, id('slow/a'))).status.code).to.equal(0);
    expect((await check(local!, id('slow/b'))).status.code).to.equal(0);
    redis.pause();
    let took: number;
    let answers: CheckResponseMessage[];
    try {
      const started = Date.now();
      // limits.store.redis.timeout is 2 s: only the Check's 600 ms deadline can bound these.
      answers = await Promise.all([check(brokers[0]!, id('slow/a'), 600), check(local!, id('slow/b'), 600)]);
      took = Date.now() - started;
    } finally {
      redis.resume();
    }
    const [denied, counted] = answers;
    expect(took, 'answered before Envoy would give up').to.be.lessThan(600);
    expect(denied!.denied_response?.status.code).to.equal(503);
    expect(deniedBody(denied!).reason).to.equal('limits_unavailable');
    expect(counted!.status.code, counted!.denied_response?.body).to.equal(0);
    // Redis, resumed, runs the reserves it was sent: the Checks had given up on them, so both are given back.
    let slow: unknown[] = [];
    for (let i = 0; i < 30; i++) {
      slow = [await used(id('slow/a'), 'slow', 'total_tokens'), await used(id('slow/b'), 'slow', 'total_tokens')];
      if (slow.every((u) => u === '100')) break;
      await sleep(100);
    }
    expect(slow).to.deep.equal(['100', '100']);
  });

  it('gives a reservation back in Redis when the credential phase denies after limit', async () => {
    const tools = (b: Broker) => callCheck(b.client, envoyCheckRequest({ principal: id('settled/tools'), destination: 'tools', host: 'tools.example.org', path: '/search' }));
    const answers = [];
    // $1.00 at $0.25 reserved a request: four would spend it, were they not given back.
    for (let i = 0; i < 6; i++) answers.push(await tools(brokers[i % 3]!));
    expect(answers.map((a) => deniedBody(a).reason)).to.deep.equal(Array(6).fill('key_unavailable'));
    expect(await used(id('settled/tools'), 'settled', 'cost_usd')).to.equal('0.00');
  });

  it('settles a reservation from its usage record in another replica: the actual use replaces the estimate', async () => {
    const answer = await check(brokers[0]!, id('settled/a'));
    expect(answer.status.code).to.equal(0);
    const reservationId = answer.dynamic_metadata.fields['limit_reservation']?.stringValue;
    expect(reservationId).to.be.a('string');
    expect(await used(id('settled/a'), 'settled', 'cost_usd')).to.equal('0.25');
    expect(await used(id('settled/a'), 'settled', 'output_tokens')).to.equal('90');
    // The usage record arrives at another replica: the store is all it needs.
    const other = new RedisLimitStore({ url: redis.url, prefix: 'kbtest:', timeout: 2000, connectTimeout: 2000 });
    try {
      expect(await other.ready(5000)).to.equal(true);
      const stores = { identity: '', primary: other, ready: () => Promise.resolve(true), retain: () => stores, close: () => Promise.resolve() };
      expect(await settleReservation(stores, { reservationId, metered: true, inputTokens: 12, outputTokens: 34, cost: { micros: 12_300 } })).to.equal(true);
      expect(await settleReservation(stores, { reservationId, metered: true, inputTokens: 12, outputTokens: 34, cost: { micros: 12_300 } }), 'once').to.equal(false);
    } finally {
      await other.close();
    }
    expect(await used(id('settled/a'), 'settled', 'cost_usd')).to.equal('0.0123');
    expect(await used(id('settled/a'), 'settled', 'output_tokens')).to.equal('34');
  });

  it('denies with 503 limits_unavailable while Redis is down (deny), counts at 1/3 locally (local), and recovers after a restart', async () => {
    // 3000 tokens an hour at 100 a request: 30 shared; the local fallback allows 10 per process.
    const before = await check(brokers[0]!, id('outage/x'));
    expect(before.status.code, before.denied_response?.body).to.equal(0);
    await redis.stop();
    const started = Date.now();
    const down = await check(brokers[0]!, id('outage/x'));
    expect(Date.now() - started).to.be.lessThan(2000);
    expect(down.denied_response?.status.code).to.equal(503);
    expect(deniedBody(down).reason).to.equal('limits_unavailable');
    const fallback = [];
    for (let i = 0; i < 11; i++) fallback.push(await check(local!, id('outage/x')));
    expect(fallback.map((a) => a.status.code === 0)).to.deep.equal([...Array(10).fill(true), false]);
    expect(deniedBody(fallback[10]!).reason).to.equal('budget_exhausted');

    await redis.restart();
    // The clients reconnect by themselves; scripts are reloaded after the restart wiped them.
    const recovered = async (b: Broker) => {
      let answer: CheckResponseMessage | undefined;
      for (let i = 0; i < 50 && answer?.status.code !== 0; i++) {
        answer = await check(b, id('outage/x'));
        if (answer.status.code !== 0) await sleep(100);
      }
      return answer?.status.code;
    };
    expect(await recovered(brokers[1]!)).to.equal(0);
    // The local-mode replica, whose fallback share is spent, is allowed again once Redis counts.
    expect(await recovered(local!)).to.equal(0);
    expect(brokers[0]!.process.output()).to.match(/limit store \(Redis\) unavailable/);
  });
});
