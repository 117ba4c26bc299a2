/**
 * Limits shared by every replica through Redis (or Valkey). One round trip per Check: a
 * single server-side script checks and takes every counter of the request atomically.
 *
 * Client: ioredis — maintained under the Redis organisation, loads scripts by SHA and
 * falls back to EVAL by itself when a restarted Redis has lost its script cache, and lets
 * the offline queue be switched off, so a Check during an outage fails at once (and is
 * denied or counted locally) instead of queueing behind a reconnect.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { bucketLevel } from './memory-store.ts';
import { RESERVE, SETTLE } from './redis-scripts.ts';
import type { RedisConfig } from './schema.ts';
import { LimitStoreError, type Counter, type CounterState, type LimitStore, type ReservePlan, type ReserveResult, type Usage } from './types.ts';

type Reply = Array<number | string>;

/** The consumer group every keybroker replica reads the operators' audit stream in. */
const AUDIT_GROUP = 'keybroker';

function pairs(fields: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < fields.length; i += 2) out.push([fields[i]!, fields[i + 1]!]);
  return out;
}

interface Scripted {
  /** `args`: the number of keys, the keys, then the script's ARGV (redis-scripts.ts). */
  kbReserve(args: Array<string | number>): Promise<Reply>;
  kbSettle(numKeys: number, ...args: Array<string | number>): Promise<number>;
}

export class RedisLimitStore implements LimitStore {
  readonly kind = 'redis';
  private readonly redis: Redis & Scripted;
  private readonly prefix: string;
  /** Logs the outage once, whether the client's reconnects or a Check found it first. */
  private readonly noteDown: (error: Error) => void;
  /** A reservation that failed while the client was not connected: the outage, seen by a Check. */
  private readonly failedReserve: (error: unknown) => never;

  constructor(config: RedisConfig, log?: Logger) {
    this.prefix = config.prefix;
    const url = new URL(config.url);
    const redis = new Redis(config.url, {
      ...(config.username ? { username: config.username } : {}),
      ...(config.passwordFile ? { password: readFileSync(config.passwordFile, 'utf8').trim() } : {}),
      ...(url.protocol === 'rediss:' ? { tls: { servername: url.hostname, ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}) } } : {}),
      connectTimeout: config.connectTimeout,
      commandTimeout: config.timeout,
      // Fail now rather than queue: a queued reserve would outlive the Check that asked.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
      lazyConnect: false,
      // Checks that reserve in the same turn of the event loop share one write (and one read in Redis).
      enableAutoPipelining: true,
    });
    redis.defineCommand('kbReserve', { lua: RESERVE });
    redis.defineCommand('kbSettle', { lua: SETTLE });
    let down = false;
    this.noteDown = (error) => {
      if (!down) log?.warn({ err: error.message, store: config.url }, 'limit store (Redis) unavailable');
      down = true;
    };
    this.failedReserve = (error) => {
      if (redis.status !== 'ready') this.noteDown(error as Error);
      throw error;
    };
    redis.on('error', this.noteDown);
    redis.on('ready', () => {
      if (down) log?.info({ store: config.url }, 'limit store (Redis) available again');
      down = false;
    });
    this.redis = redis as Redis & Scripted;
  }

  /** Resolves when connected, or after `ms` (the store then answers with errors until it is). */
  async ready(ms: number): Promise<boolean> {
    if (this.redis.status === 'ready') return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), ms);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      this.redis.on('ready', onReady);
    });
  }

  reserve(plan: ReservePlan, timeoutMs: number): Promise<ReserveResult> {
    // No time left before the Check's deadline: asking would only take what cannot be used.
    if (!(timeoutMs > 0)) return Promise.reject(new LimitStoreError("no time left to ask before the Check's deadline"));
    const { id } = plan;
    const args = reserveArgs(plan, this.prefix);
    const call = this.redis.kbReserve(args);
    // Answered after the Check gave up on it: the request was denied (or counted locally), so a reservation Redis took is given back.
    const late = () => call.then((reply) => (reply[0] === 1 && id !== '' ? this.release(id) : false)).catch(() => false);
    return bounded(call, timeoutMs, late).then(resultOf, this.failedReserve);
  }

  async settle(id: string, usage: Usage): Promise<boolean> {
    const known = (n: number | undefined) => (n === undefined ? '' : n);
    return (await this.redis.kbSettle(2, this.key(`r:${id}`), this.key('pending'), Date.now(), known(usage.inputTokens), known(usage.outputTokens), known(usage.costMicros), 'settle')) === 1;
  }

  async release(id: string): Promise<boolean> {
    return (await this.redis.kbSettle(2, this.key(`r:${id}`), this.key('pending'), Date.now(), 0, 0, 0, 'release')) === 1;
  }

  async read(counters: readonly Counter[], now: number): Promise<CounterState[]> {
    const pipeline = this.redis.pipeline();
    for (const c of counters) {
      pipeline.hget(this.key('overrides'), c.override);
      if (c.kind === 'bucket') pipeline.hmget(c.key, 't', 'at');
      else pipeline.get(c.key);
    }
    const replies = (await pipeline.exec()) ?? [];
    return counters.map((c, i) => {
      const [overrideError, override] = replies[2 * i] ?? [];
      const [stateError, state] = replies[2 * i + 1] ?? [];
      if (overrideError || stateError) throw new LimitStoreError(`reading ${c.key}: ${(overrideError ?? stateError)?.message}`);
      const overridden = typeof override === 'string';
      if (c.kind === 'bucket') {
        const limits = overridden ? { rate: Number(override), burst: Number(override), periodMs: c.periodMs } : c;
        const [tokens, at] = state as [string | null, string | null];
        const level = Math.floor(bucketLevel(tokens === null ? undefined : { tokens: Number(tokens), at: Number(at) }, limits, now));
        return { used: limits.burst - level, limit: limits.burst, remaining: level, overridden };
      }
      const max = overridden ? Number(override) : c.max;
      const used = Number(state ?? 0);
      return { used, limit: max, remaining: Math.max(0, max - used), overridden };
    });
  }

  async setOverride(field: string, value: number | undefined): Promise<void> {
    if (value === undefined) await this.redis.hdel(this.key('overrides'), field);
    else await this.redis.hset(this.key('overrides'), field, String(value));
  }

  async reset(counters: readonly Counter[]): Promise<void> {
    if (counters.length > 0) await this.redis.del(...counters.map((c) => c.key));
  }

  /** Appends an operator's action to a capped stream beside the counters (`keybroker limits` history). */
  async note(entry: Record<string, string>): Promise<void> {
    await this.redis.xadd(this.key('audit'), 'MAXLEN', '~', '10000', '*', ...Object.entries(entry).flat());
  }

  /**
   * Operators' actions appended to the audit stream that no replica has logged yet: the
   * replicas read as one consumer group, so each action is delivered to exactly one of them.
   */
  async unloggedNotes(consumer: string): Promise<Array<Record<string, string>>> {
    let reply: unknown;
    try {
      reply = await this.redis.xreadgroup('GROUP', AUDIT_GROUP, consumer, 'COUNT', 100, 'NOACK', 'STREAMS', this.key('audit'), '>');
    } catch (error) {
      if (!/NOGROUP/.test((error as Error).message)) throw error;
      // First reader ever, or a Redis that lost its data: from the start of the stream, so no action goes unlogged.
      await this.redis.xgroup('CREATE', this.key('audit'), AUDIT_GROUP, '0', 'MKSTREAM').catch((e: Error) => {
        if (!/BUSYGROUP/.test(e.message)) throw e;
      });
      return [];
    }
    const streams = (reply ?? []) as Array<[string, Array<[string, string[]]>]>;
    return streams.flatMap(([, entries]) => entries.map(([, fields]) => Object.fromEntries(pairs(fields))));
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private key(name: string): string {
    return `${this.prefix}${name}`;
  }
}

/**
 * RESERVE's arguments for `plan` (redis-scripts.ts), `prefix` the store's key prefix: the
 * number of keys, the keys, then ARGV — one flat list, built once, as this runs per Check.
 */
export function reserveArgs(plan: ReservePlan, prefix: string): Array<string | number> {
  const { counters } = plan;
  const n = counters.length;
  const args: Array<string | number> = [n + 3];
  for (let i = 0; i < n; i++) args.push(counters[i]!.key);
  args.push(`${prefix}overrides`, `${prefix}r:${plan.id}`, `${prefix}pending`, plan.now, n, plan.timeoutMs, plan.onTimeout === 'release' ? 1 : 0);
  for (let i = 0; i < n; i++) {
    const c = counters[i]!;
    if (c.kind === 'bucket') args.push('b', c.rate, c.periodMs, c.burst, c.override, c.metric);
    else args.push('w', c.max, c.amount, c.end, c.override, c.metric);
  }
  return args;
}

function resultOf(reply: Reply): ReserveResult {
  if (reply[0] !== 1) return { allowed: false, index: Number(reply[1]), retryAfterMs: Number(reply[2]) };
  const remaining = new Array<number>(reply.length - 1);
  for (let i = 1; i < reply.length; i++) remaining[i - 1] = Number(reply[i]);
  return { allowed: true, remaining };
}

/** The store's answer, or a LimitStoreError after `ms` (then `late` deals with the answer): a Check never waits longer. */
function bounded<T>(call: Promise<T>, ms: number, late: () => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      late();
      reject(new LimitStoreError(`no answer within ${ms} ms`));
    }, ms);
    call.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof LimitStoreError ? error : new LimitStoreError((error as Error)?.message ?? String(error)));
      },
    );
  });
}
