/**
 * What the limit phase asks a limit store, and what it answers. A plan is a list of
 * counters that must all admit the request; the store checks them all and, only if every
 * one admits, takes from every one — atomically, so concurrent Checks never both take the
 * last unit. Amounts are whole numbers: requests, tokens, micro-dollars.
 */
import type { MaybePromise } from '../lib/maybe-async.ts';

export type Metric = 'requests' | 'input_tokens' | 'output_tokens' | 'total_tokens' | 'cost_usd';

interface CounterBase {
  /** The store key (the Redis key, prefix included). */
  readonly key: string;
  readonly limitId: string;
  /** Whose counter: `identity:<spiffe id>`, `team:<name>`, `person:<sub>` or `tenant`. */
  readonly subject: string;
  readonly metric: Metric;
  /** Where a runtime override of this counter's limit is kept (`keybroker limits set`). */
  readonly override: string;
}

/** A token bucket: `rate` requests per `periodMs`, holding at most `burst`. */
export interface BucketCounter extends CounterBase {
  readonly kind: 'bucket';
  readonly rate: number;
  readonly periodMs: number;
  readonly burst: number;
}

/** A budget over a window: admits while `used + amount <= max`; the counter expires after `end`. */
export interface WindowCounter extends CounterBase {
  readonly kind: 'window';
  readonly max: number;
  readonly amount: number;
  readonly start: number;
  readonly end: number;
}

export type Counter = BucketCounter | WindowCounter;

export interface ReservePlan {
  /** Unique per reservation; how the usage record finds it to settle. */
  readonly id: string;
  readonly now: number;
  readonly counters: readonly Counter[];
  /** How long the reservation waits for its usage record, and what happens then. */
  readonly timeoutMs: number;
  readonly onTimeout: 'charge' | 'release';
}

export type ReserveResult =
  /** `remaining[i]`: what counter i has left after this request (whole units). */
  | { readonly allowed: true; readonly remaining: readonly number[] }
  /** `index`: the counter that refused (the one that frees last, when several do). */
  | { readonly allowed: false; readonly index: number; readonly retryAfterMs: number };

/**
 * A request's actual use, from its usage record. What is not known (the response was not
 * metered; no price for the model) is absent, and the estimate stays charged for it.
 */
export interface Usage {
  readonly inputTokens?: number | undefined;
  readonly outputTokens?: number | undefined;
  readonly costMicros?: number | undefined;
}

/** A counter as `keybroker limits show` reports it. */
export interface CounterState {
  /** Used (windows) or available (buckets) now, with overrides applied to `limit`. */
  readonly used: number;
  readonly limit: number;
  readonly remaining: number;
  readonly overridden: boolean;
}

export interface LimitStore {
  readonly kind: 'memory' | 'redis';
  /** One atomic check-and-take; bounded by `timeoutMs`, rejecting with LimitStoreError. */
  reserve(plan: ReservePlan, timeoutMs: number): MaybePromise<ReserveResult>;
  /** Charges the actual use instead of the estimate (the estimate where use is unknown); false when the reservation is unknown or timed out. */
  settle(id: string, usage: Usage): Promise<boolean>;
  /** Gives the estimate back (the request never reached the provider). */
  release(id: string): Promise<boolean>;
  read(counters: readonly Counter[], now: number): Promise<CounterState[]>;
  /** Replaces a counter's limit (a bucket's rate and burst, a window's max); undefined clears it. */
  setOverride(field: string, value: number | undefined): Promise<void>;
  /** Forgets what the counters have used. */
  reset(counters: readonly Counter[]): Promise<void>;
  close(): Promise<void>;
}

/** The store could not answer (unreachable, slow, failing): never an allow. */
export class LimitStoreError extends Error {
  readonly code = 'limit_store_unavailable';
  constructor(message: string) {
    super(message);
    this.name = 'LimitStoreError';
  }
}
