/**
 * The limit stores' contract, held by the memory store and by the Redis store against a
 * real redis-server: atomic check-and-take, token buckets, windows, settle and release,
 * reservation timeouts, overrides, reset, and exact counting under concurrency.
 */
import { expect } from 'chai';
import { compileLimits, planCounters, type Estimate, type LimitSubject } from '../../src/limit/compile.ts';
import { limitsSchema } from '../../src/limit/schema.ts';
import { MemoryLimitStore } from '../../src/limit/memory-store.ts';
import { RedisLimitStore } from '../../src/limit/redis-store.ts';
import { settleReservation, settleSink } from '../../src/limit/settle.ts';
import { pino } from 'pino';
import { Capture } from '../helpers/capture.ts';
import type { LimitStore, ReservePlan, Counter } from '../../src/limit/types.ts';
import { startRedis, type RunningRedis } from '../helpers/redis.ts';

const estimate: Estimate = { inputTokens: 100, outputTokens: 200, costMicros: 250_000 };
const subject: LimitSubject = { identity: 'spiffe://td/agent/a', teams: ['research'], destination: 'openai' };
let sequence = 0;

function limits(rules: unknown[], prefix: string) {
  return compileLimits(limitsSchema.parse({ store: { redis: { url: 'redis://127.0.0.1:1', prefix } }, rules }));
}

function plan(counters: Counter[], now: number, options: Partial<ReservePlan> = {}): ReservePlan {
  return { id: `d${++sequence}`, now, counters, timeoutMs: 60_000, onTimeout: 'charge', ...options };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of ['memory', 'redis'] as const) {
  describe(`limit store: ${kind}`, function () {
    this.timeout(20_000);
    let redis: RunningRedis | undefined;
    let store: LimitStore;
    let prefix: string;

    before(async () => {
      if (kind === 'redis') redis = await startRedis();
    });
    after(async () => {
      await redis?.stop();
    });
    beforeEach(async () => {
      prefix = `t${++sequence}:`;
      if (kind === 'memory') store = new MemoryLimitStore();
      else {
        const s = new RedisLimitStore({ url: redis!.url, prefix, timeout: 2000, connectTimeout: 2000 });
        expect(await s.ready(5000)).to.equal(true);
        store = s;
      }
    });
    afterEach(async () => {
      await store.close();
    });

    const reserve = async (p: ReservePlan) => store.reserve(p, 2000);

    it('takes a token bucket down to empty, then refuses with the time to the next token', async () => {
      const compiled = limits([{ id: 'rate', requests: { rate: 2, per: '1m', burst: 3 } }], prefix);
      const now = Date.now();
      const counters = planCounters(compiled, subject, estimate, now);
      expect(counters).to.have.length(1);
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await reserve(plan(counters, now)));
      expect(answers.slice(0, 3).map((a) => a.allowed && a.remaining[0])).to.deep.equal([2, 1, 0]);
      expect(answers[3]).to.deep.equal({ allowed: false, index: 0, retryAfterMs: 30_000 });
      // Half a period later one token is back (2 per minute).
      expect(await reserve(plan(counters, now + 30_000))).to.deep.include({ allowed: true });
      expect(await reserve(plan(counters, now + 30_001))).to.include({ allowed: false });
    });

    it('admits a budget while used + reservation fits, and says when the window ends', async () => {
      const compiled = limits([{ id: 'cost', costUsd: { max: '1.00', per: '1h' } }], prefix);
      // Half way through the current hour's window (a past window's counter would already have expired in Redis).
      const now = Date.now() - (Date.now() % 3_600_000) + 1_800_000;
      const counters = planCounters(compiled, subject, estimate, now);
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await reserve(plan(counters, now)));
      expect(answers.slice(0, 4).map((a) => a.allowed && a.remaining[0])).to.deep.equal([750_000, 500_000, 250_000, 0]);
      expect(answers[4]).to.deep.equal({ allowed: false, index: 0, retryAfterMs: 30 * 60_000 });
      // The next window starts from nothing.
      const next = planCounters(compiled, subject, estimate, now + 30 * 60_000);
      expect(next[0]!.key).to.not.equal(counters[0]!.key);
      expect(await reserve(plan(next, now + 30 * 60_000))).to.deep.include({ allowed: true });
    });

    it('is all or nothing: a full counter refuses and nothing is taken from the others', async () => {
      const compiled = limits(
        [
          { id: 'roomy', tokens: { total: 10_000, per: '1d' } },
          { id: 'tight', per: 'team', teams: ['research'], tokens: { output: 300, per: '1d' } },
        ],
        prefix,
      );
      const now = Date.now();
      const counters = planCounters(compiled, subject, estimate, now);
      expect(counters.map((c) => `${c.limitId}/${c.subject}/${c.metric}`)).to.deep.equal(['roomy/identity:spiffe://td/agent/a/total_tokens', 'tight/team:research/output_tokens']);
      expect(await reserve(plan(counters, now))).to.deep.equal({ allowed: true, remaining: [9700, 100] });
      expect(await reserve(plan(counters, now))).to.deep.include({ allowed: false, index: 1 });
      const [roomy] = await store.read(counters, now);
      expect(roomy).to.deep.include({ used: 300, remaining: 9700 });
    });

    it('settles a reservation to the actual use, or releases it', async () => {
      const compiled = limits([{ id: 'tok', tokens: { input: 1000, output: 1000, per: '1d' }, costUsd: { max: '10', per: 'month' } }], prefix);
      const now = Date.now();
      const counters = planCounters(compiled, subject, estimate, now);
      const first = plan(counters, now);
      const second = plan(counters, now);
      expect(await reserve(first)).to.include({ allowed: true });
      expect(await reserve(second)).to.include({ allowed: true });
      expect((await store.read(counters, now)).map((s) => s.used)).to.deep.equal([200, 400, 500_000]);
      expect(await store.settle(first.id, { inputTokens: 30, outputTokens: 7, costMicros: 1234 })).to.equal(true);
      expect((await store.read(counters, now)).map((s) => s.used)).to.deep.equal([130, 207, 251_234]);
      expect(await store.release(second.id)).to.equal(true);
      expect((await store.read(counters, now)).map((s) => s.used)).to.deep.equal([30, 7, 1234]);
      // Each reservation settles once.
      expect(await store.settle(first.id, { inputTokens: 1, outputTokens: 1, costMicros: 1 })).to.equal(false);
      expect(await store.release(second.id)).to.equal(false);
    });

    it('keeps the estimate charged for what a usage record does not know', async () => {
      const compiled = limits([{ id: 'tok', tokens: { input: 1000, total: 2000, per: '1d' }, costUsd: { max: '10', per: 'month' } }], prefix);
      const now = Date.now();
      const counters = planCounters(compiled, subject, estimate, now);
      const unpriced = plan(counters, now);
      const unmetered = plan(counters, now);
      expect(await reserve(unpriced)).to.include({ allowed: true });
      expect(await reserve(unmetered)).to.include({ allowed: true });
      expect((await store.read(counters, now)).map((s) => s.used)).to.deep.equal([200, 600, 500_000]);
      // Metered, no price: tokens settle, the cost estimate stays.
      expect(await store.settle(unpriced.id, { inputTokens: 40, outputTokens: 2 })).to.equal(true);
      expect((await store.read(counters, now)).map((s) => s.used)).to.deep.equal([140, 342, 500_000]);
      // Unmetered: the whole estimate stays, and the reservation is done (a timeout cannot give it back).
      expect(await store.settle(unmetered.id, {})).to.equal(true);
      expect((await store.read(counters, now)).map((s) => s.used)).to.deep.equal([140, 342, 500_000]);
      expect(await store.release(unmetered.id)).to.equal(false);
    });

    it('settles from a usage record through settleReservation', async () => {
      const compiled = limits([{ id: 'cost', costUsd: { max: '10', per: '1d' }, tokens: { output: 5000, per: '1d' } }], prefix);
      const now = Date.now();
      const counters = planCounters(compiled, subject, estimate, now);
      const reserved = plan(counters, now);
      expect(await reserve(reserved)).to.include({ allowed: true });
      const stores = { identity: '', primary: store, ready: () => Promise.resolve(true), retain: () => stores, close: () => Promise.resolve() };
      expect(await settleReservation(stores, { reservationId: reserved.id, metered: true, inputTokens: 10, outputTokens: 20, cost: { micros: 11 } })).to.equal(true);
      expect((await store.read(counters, now)).map((s) => s.used)).to.deep.equal([20, 11]);
      // Nothing to settle: no reservation, an id keybroker never makes, one already settled.
      expect(await settleReservation(stores, { metered: true, inputTokens: 1, outputTokens: 1 })).to.equal(false);
      expect(await settleReservation(stores, { reservationId: 'a b', metered: true, inputTokens: 1, outputTokens: 1 })).to.equal(false);
      expect(await settleReservation(stores, { reservationId: reserved.id, metered: true, inputTokens: 1, outputTokens: 1 })).to.equal(false);
    });

    it('on timeout, keeps the estimate charged (charge) or gives it back (release)', async () => {
      const compiled = limits([{ id: 'tok', tokens: { total: 1000, per: '1d' } }], prefix);
      const counters = planCounters(compiled, subject, estimate, Date.now());
      const charged = plan(counters, Date.now(), { timeoutMs: 150, onTimeout: 'charge' });
      const released = plan(counters, Date.now(), { timeoutMs: 150, onTimeout: 'release' });
      expect(await reserve(charged)).to.include({ allowed: true });
      expect(await reserve(released)).to.include({ allowed: true });
      await sleep(300);
      expect(await store.settle(charged.id, { inputTokens: 0, outputTokens: 0, costMicros: 0 })).to.equal(false);
      expect(await store.settle(released.id, { inputTokens: 0, outputTokens: 0, costMicros: 0 })).to.equal(false);
      // The timed-out release gave its 300 back; the charged one still counts.
      expect((await store.read(counters, Date.now()))[0]).to.deep.include({ used: 300 });
    });

    it('exceeds a budget by at most N × (actual − estimate) when N reservations settle above their estimate', async () => {
      const compiled = limits([{ id: 'cost', per: 'tenant', costUsd: { max: '2.50', per: '1d' } }], prefix);
      const now = Date.now();
      const counters = planCounters(compiled, subject, estimate, now);
      // 30 concurrent at $0.25 reserved: exactly 10 fit; each then really costs $0.30.
      const plans = Array.from({ length: 30 }, () => plan(counters, now));
      const answers = await Promise.all(plans.map((p) => reserve(p)));
      const admitted = plans.filter((_, i) => answers[i]!.allowed);
      expect(admitted).to.have.length(10);
      for (const p of admitted) expect(await store.settle(p.id, { inputTokens: 0, outputTokens: 0, costMicros: 300_000 })).to.equal(true);
      // The documented bound, reached exactly: $2.50 + 10 × $0.05.
      expect((await store.read(counters, now))[0]).to.deep.include({ used: 3_000_000, remaining: 0 });
      expect(await reserve(plan(counters, now))).to.include({ allowed: false });
    });

    it('applies runtime overrides and resets', async () => {
      const compiled = limits([{ id: 'rate', requests: { rate: 1, per: '1h' }, tokens: { total: 300, per: '1d' } }], prefix);
      const now = Date.now();
      const counters = planCounters(compiled, subject, estimate, now);
      expect(await reserve(plan(counters, now))).to.include({ allowed: true });
      expect(await reserve(plan(counters, now))).to.include({ allowed: false });
      await store.setOverride(counters[0]!.override, 5);
      await store.setOverride(counters[1]!.override, 3000);
      // The bucket's level carries over; its new rate (5 an hour) says when the next token comes.
      expect(await reserve(plan(counters, now))).to.deep.equal({ allowed: false, index: 0, retryAfterMs: 12 * 60_000 });
      await store.reset([counters[0]!]);
      expect(await reserve(plan(counters, now))).to.deep.equal({ allowed: true, remaining: [4, 2400] });
      expect((await store.read(counters, now)).map((s) => [s.limit, s.overridden])).to.deep.equal([
        [5, true],
        [3000, true],
      ]);
      await store.setOverride(counters[0]!.override, undefined);
      await store.setOverride(counters[1]!.override, undefined);
      await store.reset(counters);
      expect((await store.read(counters, now)).map((s) => [s.used, s.limit, s.overridden])).to.deep.equal([
        [0, 1, false],
        [0, 300, false],
      ]);
    });

    it('never over-grants under 200 concurrent reservations of one budget', async () => {
      const compiled = limits([{ id: 'shared', per: 'tenant', costUsd: { max: '12.50', per: '1d' }, requests: { rate: 1000, per: '1h', burst: 80 } }], prefix);
      const now = Date.now();
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => reserve(plan(planCounters(compiled, { ...subject, identity: `spiffe://td/agent/${i}` }, estimate, now), now))));
      // $12.50 at $0.25 a request: exactly 50, though the bucket would allow 80.
      expect(answers.filter((a) => a.allowed)).to.have.length(50);
      const [bucket, cost] = await store.read(planCounters(compiled, subject, estimate, now), now);
      expect(cost).to.deep.include({ used: 12_500_000, remaining: 0 });
      expect(bucket).to.deep.include({ remaining: 30 });
    });
  });
}

describe('the settling usage sink', () => {
  it('settles records with a reservation, skips the rest, and logs (never throws) when the store cannot answer', async () => {
    const logs = new Capture();
    const log = pino({ level: 'info' }, logs);
    const memory = new MemoryLimitStore();
    const compiled = limits([{ id: 'tok', tokens: { output: 1000, per: '1d' } }], 'sink:');
    const now = Date.now();
    const counters = planCounters(compiled, subject, estimate, now);
    const reserved = plan(counters, now);
    expect(memory.reserve(reserved)).to.include({ allowed: true });
    const stores = { identity: '', primary: memory as LimitStore, ready: () => Promise.resolve(true), retain: () => stores, close: () => Promise.resolve() };
    settleSink(() => stores, log)({ reservationId: reserved.id, metered: true, inputTokens: 1, outputTokens: 7 });
    settleSink(() => undefined, log)({ reservationId: 'x#1.1', metered: true, inputTokens: 1, outputTokens: 7 });
    settleSink(() => stores, log)({ metered: true, inputTokens: 1, outputTokens: 7 });
    await sleep(10);
    expect((await memory.read(counters, now))[0]).to.deep.include({ used: 7 });
    await memory.close();

    // Nothing listens on port 1: the store rejects, the sink logs and returns.
    const unreachable = new RedisLimitStore({ url: 'redis://127.0.0.1:1', prefix: 'sink:', timeout: 200, connectTimeout: 200 });
    const down = { identity: '', primary: unreachable as LimitStore, ready: () => Promise.resolve(false), retain: () => down, close: () => Promise.resolve() };
    expect(() => settleSink(() => down, log)({ reservationId: 'd1#1.1', metered: false, inputTokens: 0, outputTokens: 0 })).to.not.throw();
    for (let i = 0; i < 50 && !logs.text().includes('not settled'); i++) await sleep(20);
    await unreachable.close();
    const line = logs.lines().find((l) => l['msg'] === 'limit reservation not settled: the estimate stays charged');
    expect(line).to.deep.include({ level: 40, reservation: 'd1#1.1' });
  });
});
