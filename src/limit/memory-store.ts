/**
 * Limits counted in this process: the embedded default, and the per-replica fallback
 * when Redis is unavailable. Synchronous, so a Check under a memory-store limit never
 * waits a turn of the event loop. Same semantics as the Redis store's scripts.
 */
import type { BucketCounter, Counter, CounterState, LimitStore, ReservePlan, ReserveResult, Usage } from './types.ts';

interface Bucket {
  tokens: number;
  at: number;
  expires: number;
}

interface Held {
  readonly entries: ReadonlyArray<{ readonly key: string; readonly metric: string; readonly amount: number }>;
  readonly expires: number;
  readonly release: boolean;
}

/** Counters are kept this long after their window ends, for late settlements and `limits show`. */
export const WINDOW_GRACE_MS = 60 * 60_000;
const SWEEP_MS = 10_000;

export class MemoryLimitStore implements LimitStore {
  readonly kind = 'memory';
  private readonly buckets = new Map<string, Bucket>();
  private readonly windows = new Map<string, { used: number; expires: number }>();
  private readonly overrides = new Map<string, number>();
  private readonly held = new Map<string, Held>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.clock = clock;
    this.sweeper = setInterval(() => this.sweep(this.clock()), SWEEP_MS).unref();
  }

  reserve(plan: ReservePlan): ReserveResult {
    const { now, counters } = plan;
    const n = counters.length;
    // Left after this request, per counter: the answer's `remaining` once floored.
    const remaining = new Array<number>(n);
    let refused = -1;
    let retryAfterMs = 0;
    for (let i = 0; i < n; i++) {
      const counter = counters[i]!;
      let left: number;
      let wait = 0;
      if (counter.kind === 'bucket') {
        const limits = this.bucketLimits(counter);
        const tokens = this.bucketTokens(counter, limits, now);
        left = tokens >= 1 ? tokens - 1 : tokens;
        if (tokens < 1) wait = Math.max(1, Math.ceil(((1 - tokens) * limits.periodMs) / limits.rate));
      } else {
        const max = this.overrides.get(counter.override) ?? counter.max;
        const used = this.usedIn(counter.key, now);
        left = used + counter.amount <= max ? max - used - counter.amount : Math.max(0, max - used);
        if (used + counter.amount > max) wait = Math.max(1, counter.end - now);
      }
      remaining[i] = left;
      if (wait > 0 && wait >= retryAfterMs) {
        refused = i;
        retryAfterMs = wait;
      }
    }
    if (refused >= 0) return { allowed: false, index: refused, retryAfterMs };
    let entries: Array<{ key: string; metric: string; amount: number }> | undefined;
    for (let i = 0; i < n; i++) {
      const counter = counters[i]!;
      if (counter.kind === 'bucket') {
        const { burst, rate, periodMs } = this.bucketLimits(counter);
        const expires = now + Math.ceil((burst / rate) * periodMs);
        const bucket = this.buckets.get(counter.key);
        // Taken in place: a bucket taken from on every Check is not a new object every Check.
        if (bucket) {
          bucket.tokens = remaining[i]!;
          bucket.at = now;
          bucket.expires = expires;
        } else this.buckets.set(counter.key, { tokens: remaining[i]!, at: now, expires });
      } else {
        const window = this.windows.get(counter.key);
        if (window && window.expires > now) window.used += counter.amount;
        else this.windows.set(counter.key, { used: counter.amount, expires: counter.end + WINDOW_GRACE_MS });
        (entries ??= []).push({ key: counter.key, metric: counter.metric, amount: counter.amount });
      }
      remaining[i] = Math.max(0, Math.floor(remaining[i]!));
    }
    if (entries) this.held.set(plan.id, { entries, expires: now + plan.timeoutMs, release: plan.onTimeout === 'release' });
    return { allowed: true, remaining };
  }

  settle(id: string, usage: Usage): Promise<boolean> {
    return Promise.resolve(this.adjust(id, (metric) => actualOf(metric, usage)));
  }

  release(id: string): Promise<boolean> {
    return Promise.resolve(this.adjust(id, () => 0));
  }

  read(counters: readonly Counter[], now: number): Promise<CounterState[]> {
    return Promise.resolve(
      counters.map((counter) => {
        const overridden = this.overrides.has(counter.override);
        if (counter.kind === 'bucket') {
          const limits = this.bucketLimits(counter);
          const { burst } = limits;
          const available = this.bucketTokens(counter, limits, now);
          return { used: burst - Math.floor(available), limit: burst, remaining: Math.floor(available), overridden };
        }
        const max = this.overrides.get(counter.override) ?? counter.max;
        const used = this.usedIn(counter.key, now);
        return { used, limit: max, remaining: Math.max(0, max - used), overridden };
      }),
    );
  }

  setOverride(field: string, value: number | undefined): Promise<void> {
    if (value === undefined) this.overrides.delete(field);
    else this.overrides.set(field, value);
    return Promise.resolve();
  }

  reset(counters: readonly Counter[]): Promise<void> {
    for (const counter of counters) (counter.kind === 'bucket' ? this.buckets : this.windows).delete(counter.key);
    return Promise.resolve();
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    return Promise.resolve();
  }

  /** A bucket's rate and burst, an override replacing both (`--requests N`: N per period, burst N). */
  private bucketLimits(counter: BucketCounter): { rate: number; burst: number; periodMs: number } {
    const override = this.overrides.get(counter.override);
    return override === undefined ? counter : { rate: override, burst: override, periodMs: counter.periodMs };
  }

  /** The bucket's level now, before this request takes from it. */
  private bucketTokens(counter: BucketCounter, limits: { rate: number; burst: number; periodMs: number }, now: number): number {
    const state = this.buckets.get(counter.key);
    return bucketLevel(state && state.expires > now ? state : undefined, limits, now);
  }

  private usedIn(key: string, now: number): number {
    const window = this.windows.get(key);
    return window && window.expires > now ? window.used : 0;
  }

  private adjust(id: string, actual: (metric: string) => number | undefined): boolean {
    const held = this.held.get(id);
    if (!held) return false;
    if (held.expires <= this.clock()) {
      this.expire(id, held);
      return false;
    }
    this.held.delete(id);
    for (const { key, metric, amount } of held.entries) {
      const window = this.windows.get(key);
      const used = actual(metric);
      if (window && used !== undefined) window.used += used - amount;
    }
    return true;
  }

  /** A reservation whose usage record never came: charged as estimated, or given back. */
  private expire(id: string, held: Held): void {
    this.held.delete(id);
    if (!held.release) return;
    for (const { key, amount } of held.entries) {
      const window = this.windows.get(key);
      if (window) window.used -= amount;
    }
  }

  private sweep(now: number): void {
    for (const [id, held] of this.held) if (held.expires <= now) this.expire(id, held);
    for (const [key, bucket] of this.buckets) if (bucket.expires <= now) this.buckets.delete(key);
    for (const [key, window] of this.windows) if (window.expires <= now) this.windows.delete(key);
  }
}

/** What a usage record says a counter's metric really used; undefined when it does not say. */
export function actualOf(metric: string, usage: Usage): number | undefined {
  switch (metric) {
    case 'input_tokens':
      return usage.inputTokens;
    case 'output_tokens':
      return usage.outputTokens;
    case 'total_tokens':
      return usage.inputTokens === undefined || usage.outputTokens === undefined ? undefined : usage.inputTokens + usage.outputTokens;
    case 'cost_usd':
      return usage.costMicros;
    default:
      return undefined;
  }
}

/** A token bucket's level now: full when it has no state, else refilled since it was last taken from. */
export function bucketLevel(
  state: { readonly tokens: number; readonly at: number } | undefined,
  limits: { readonly rate: number; readonly burst: number; readonly periodMs: number },
  now: number,
): number {
  if (!state) return limits.burst;
  return Math.min(limits.burst, state.tokens + (Math.max(0, now - state.at) * limits.rate) / limits.periodMs);
}
