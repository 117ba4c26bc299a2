/**
 * The limit phase: after authorize, before the key is fetched. Every limit whose scope
 * covers the request must admit it; the store checks and reserves them in one atomic
 * step (one Redis round trip). The reservation is the request's estimated use, settled to
 * its actual use when a usage record arrives. A store that cannot answer in time is a
 * denial (`limits_unavailable`), or with `onStoreError: local` this replica counts alone
 * against 1/replicas of each limit.
 */
import { randomUUID } from 'node:crypto';
import { Denial } from '../lib/denial.ts';
import { isPromise, type MaybePromise } from '../lib/maybe-async.ts';
import { planCounters, type CompiledLimits, type Estimate, type LimitSubject } from './compile.ts';
import { estimateCost, priceFor, type PriceTable } from '../usage/prices.ts';
import { formatUsd } from './money.ts';
import type { LimitStores } from './stores.ts';
import { LimitStoreError, type Counter, type ReservePlan, type ReserveResult } from './types.ts';

export interface Limiter {
  readonly compiled: CompiledLimits;
  readonly stores: LimitStores;
  /** The price table (`prices:`): a request whose model it prices reserves that cost. */
  readonly prices?: PriceTable | undefined;
}

export interface LimitRequest extends LimitSubject {
  readonly decisionId: string;
  /** The body's `max_tokens`, when the body was read: the output reservation. */
  readonly maxTokens?: number | undefined;
}

/** What an allowed request learns: its reservation and what it may still use. */
export interface LimitGrant {
  /** What the usage record settles; absent when only request rates applied (nothing is held). */
  readonly reservationId: string | undefined;
  /** Where it was counted: the shared store, or this replica alone (fallback). */
  readonly store: 'memory' | 'redis' | 'local';
  /** The limit with the least left, as a fraction of its size. */
  readonly limitId: string;
  readonly remaining: Remaining;
  /** Response headers for the agent (documented in docs/limits.md). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

export interface Remaining {
  requests?: number;
  tokens?: number;
  costUsd?: string;
}

/** Thrown to deny: `rate_limited` or `budget_exhausted` (429) with when to retry. */
export class LimitDenial extends Denial {
  readonly limitId: string;
  readonly retryAfterSeconds: number;

  constructor(reason: 'rate_limited' | 'budget_exhausted', limitId: string, retryAfterMs: number, detail: string) {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(reason, detail, [{ key: 'retry-after', value: String(seconds) }]);
    this.limitId = limitId;
    this.retryAfterSeconds = seconds;
  }
}

export const LIMIT_HEADERS = {
  limit: 'x-keybroker-ratelimit-limit',
  requests: 'x-keybroker-ratelimit-remaining-requests',
  tokens: 'x-keybroker-ratelimit-remaining-tokens',
  costUsd: 'x-keybroker-ratelimit-remaining-usd',
} as const;

/**
 * Reserves for `request`, or throws a Denial; undefined when no limit covers it. `waitMs`
 * bounds the wait on a shared store: its own timeout, or less when the Check's deadline
 * comes first — a store that cannot answer by then is a store error, as if it were down.
 */
export function reserveLimits(limiter: Limiter, request: LimitRequest, now: number, waitMs: number): MaybePromise<LimitGrant | undefined> {
  const { compiled, stores } = limiter;
  const estimate = estimateOf(limiter, request);
  const counters = planCounters(compiled, request, estimate, now);
  if (counters.length === 0) return undefined;
  const { timeout, onTimeout } = compiled.config.reservations;
  // Only budgets are held for settling; a request rate's token is spent on admission.
  let holds = false;
  for (const c of counters) if (c.kind === 'window') holds = true;
  // The decision id may come from the agent (x-request-id): a random suffix keeps
  // reservations apart, across replicas too (pid + counter collided between pods).
  const id = holds ? `${request.decisionId}#${randomUUID()}` : '';
  const plan: ReservePlan = { id, now, counters, timeoutMs: timeout, onTimeout };
  try {
    const result = stores.primary.reserve(plan, waitMs);
    if (!isPromise(result)) return grantOrDeny(result, counters, id, stores.primary.kind);
    return result.then(
      (r) => grantOrDeny(r, counters, id, stores.primary.kind),
      (error: unknown) => fallback(limiter, request, estimate, plan, error),
    );
  } catch (error) {
    return fallback(limiter, request, estimate, plan, error);
  }
}

/** The store failed: a denial, or with `onStoreError: local` this replica's own count at 1/replicas. */
function fallback(limiter: Limiter, request: LimitRequest, estimate: Estimate, plan: ReservePlan, error: unknown): LimitGrant {
  const { compiled, stores } = limiter;
  if (!(error instanceof LimitStoreError)) throw error;
  if (!stores.local) throw new Denial('limits_unavailable', `limit store: ${error.message}`);
  const shared = planCounters(compiled, request, estimate, plan.now, compiled.config.replicas);
  return grantOrDeny(stores.local.reserve({ ...plan, counters: shared }), shared, plan.id, 'local');
}

/**
 * Gives a grant's reservation back: the request was denied after the limit phase (the
 * key unavailable, the deadline passed) and never reached the provider. A failure leaves
 * the estimate charged until the reservation times out: counting too much, never too little.
 */
export function releaseGrant(stores: LimitStores, grant: LimitGrant): Promise<boolean> {
  if (grant.reservationId === undefined) return Promise.resolve(false);
  const store = grant.store === 'local' ? stores.local : stores.primary;
  return store ? store.release(grant.reservationId).catch(() => false) : Promise.resolve(false);
}

/**
 * What a request reserves (docs/limits.md): output tokens from the body's max_tokens, else
 * the configured estimate; input tokens as configured; cost at the model's price for those
 * tokens when the table prices it, else as configured.
 */
function estimateOf(limiter: Limiter, request: LimitRequest): Estimate {
  const { compiled } = limiter;
  // Pricing (BigInt arithmetic) only when a cost budget can apply and the model is known.
  const price = compiled.countsCost && limiter.prices && request.model !== undefined ? priceFor(limiter.prices, request.destination, request.model) : undefined;
  if (!price && request.maxTokens === undefined) return compiled.defaultEstimate;
  const { inputTokens, outputTokens: defaultOutput, costUsd } = compiled.config.estimate;
  const outputTokens = request.maxTokens ?? defaultOutput;
  return { inputTokens, outputTokens, costMicros: price ? estimateCost(price, inputTokens, outputTokens).micros : costUsd };
}

function grantOrDeny(result: ReserveResult, counters: readonly Counter[], reservationId: string, store: LimitGrant['store']): LimitGrant {
  if (!result.allowed) {
    const counter = counters[result.index]!;
    const reason = counter.kind === 'bucket' ? 'rate_limited' : 'budget_exhausted';
    const what = counter.kind === 'bucket' ? 'request rate' : `${counter.metric.replace('_', ' ')} budget`;
    throw new LimitDenial(reason, counter.limitId, result.retryAfterMs, `limit "${counter.limitId}" (${what} of ${counter.subject}) is used up; retry in ${Math.ceil(result.retryAfterMs / 1000)} s`);
  }
  const remaining: Remaining = {};
  let tightest = counters[0]!;
  let least = Infinity;
  let costMicros: number | undefined;
  for (let i = 0; i < counters.length; i++) {
    const counter = counters[i]!;
    const left = result.remaining[i]!;
    const size = counter.kind === 'bucket' ? counter.burst : counter.max;
    if (left / size < least) {
      least = left / size;
      tightest = counter;
    }
    if (counter.metric === 'requests') remaining.requests = Math.min(remaining.requests ?? left, left);
    else if (counter.metric === 'cost_usd') costMicros = Math.min(costMicros ?? left, left);
    else remaining.tokens = Math.min(remaining.tokens ?? left, left);
  }
  if (costMicros !== undefined) remaining.costUsd = formatUsd(costMicros);
  const headers: Array<[string, string]> = [[LIMIT_HEADERS.limit, tightest.limitId]];
  if (remaining.requests !== undefined) headers.push([LIMIT_HEADERS.requests, String(remaining.requests)]);
  if (remaining.tokens !== undefined) headers.push([LIMIT_HEADERS.tokens, String(remaining.tokens)]);
  if (remaining.costUsd !== undefined) headers.push([LIMIT_HEADERS.costUsd, remaining.costUsd]);
  return { reservationId: reservationId === '' ? undefined : reservationId, store, limitId: tightest.limitId, remaining, headers };
}
