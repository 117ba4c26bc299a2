/**
 * The limit phase, after authorize and before the key is fetched: reserves the request's
 * estimated use against every limit that covers it (src/limit/reserve.ts), or denies.
 * Its state — compiled limits and the open stores — is prepared per configuration; the
 * stores are carried over by reloads that keep `store` and `onStoreError`, so counters
 * survive a reload (invariant 8: a reload never opens the gate).
 */
import { performance } from 'node:perf_hooks';
import { isPromise } from '../lib/maybe-async.ts';
import { addRecordAttribute, addResponseHeader, need, onDenied, type CheckContext, type StatefulPhase } from '../model/phase.ts';
import { compileTeams, teamsOf, type TeamIndex } from '../policy/teams.ts';
import { compilePrices } from '../usage/prices.ts';
import { compileLimits } from './compile.ts';
import { LimitDenial, releaseGrant, reserveLimits, type LimitGrant, type Limiter } from './reserve.ts';
import { openLimitStores, storesIdentity, type LimitStores } from './stores.ts';

export interface LimitState {
  readonly limiter: Limiter;
  readonly teams: TeamIndex;
  /** Whether any limit needs the body (a model scope, a token or cost budget). */
  readonly readsBody: boolean;
  /** The longest a Check waits on the store. */
  readonly timeoutMs: number;
}

/** Span attributes and decision-log fields (docs/limits.md). */
export const LIMIT_ATTR = {
  id: 'keybroker.limit.id',
  reservation: 'keybroker.limit.reservation',
  store: 'keybroker.limit.store',
  requests: 'keybroker.limit.remaining.requests',
  tokens: 'keybroker.limit.remaining.tokens',
  costUsd: 'keybroker.limit.remaining.cost_usd',
  retryAfter: 'keybroker.limit.retry_after_s',
} as const;

export const limitPhase: StatefulPhase<LimitState | undefined> = {
  name: 'limit',
  prepare(config, previous, log) {
    const limits = config.limits;
    if (!limits || limits.rules.length === 0) return undefined;
    const stores = previous && previous.limiter.stores.identity === storesIdentity(limits) ? previous.limiter.stores.retain() : openLimitStores(limits, log);
    const timeoutMs = typeof limits.store === 'object' ? limits.store.redis.timeout : 0;
    const readsBody = limits.rules.some((r) => r.models || r.tokens || r.costUsd);
    const limiter = { compiled: compileLimits(limits), stores, prices: compilePrices(config.prices) };
    return { limiter, teams: compileTeams(config.teams), readsBody, timeoutMs };
  },
  close(state) {
    void state?.limiter.stores.close();
  },
  run(ctx, state) {
    if (!state) return;
    const principal = need(ctx.principal, 'the principal');
    const destination = need(ctx.destination, 'the destination');
    const body = ctx.body?.read ?? (state.readsBody ? readBody(ctx) : undefined);
    const request = {
      decisionId: ctx.facts.decisionId,
      identity: principal.id,
      teams: teamsOf(state.teams, principal.id),
      person: ctx.person,
      destination: destination.name,
      model: typeof body?.model === 'string' ? body.model : undefined,
      maxTokens: Number.isFinite(body?.maxOutputTokens) ? body?.maxOutputTokens : undefined,
    };
    try {
      const waitMs = state.timeoutMs > 0 ? storeWait(state.timeoutMs, ctx.answerBy) : 0;
      const grant = reserveLimits(state.limiter, request, Date.now(), waitMs);
      if (isPromise(grant))
        return grant.then(
          (g) => noteGrant(ctx, state, g),
          (error: unknown) => denied(ctx, error),
        );
      noteGrant(ctx, state, grant);
    } catch (error) {
      denied(ctx, error);
    }
  },
};

/** Notes which limit denied and when to retry, for the audit record; rethrows. */
function denied(ctx: CheckContext, error: unknown): never {
  if (error instanceof LimitDenial) {
    addRecordAttribute(ctx, LIMIT_ATTR.id, error.limitId);
    addRecordAttribute(ctx, LIMIT_ATTR.retryAfter, error.retryAfterSeconds);
  }
  throw error;
}

/** The stores of the limits in force (the runtime keeps this phase's state by its name), for settling usage. */
export function limitStoresOf(phaseStates: ReadonlyMap<string, unknown>): LimitStores | undefined {
  return (phaseStates.get(limitPhase.name) as LimitState | undefined)?.limiter.stores;
}

/** The body's facts for the estimate (model, max tokens), when the destination's api makes them readable. */
function readBody(ctx: CheckContext) {
  try {
    return ctx.body?.facts();
  } catch {
    // Unreadable: no model, default estimate. Policy, not limits, decides about bad bodies.
    return undefined;
  }
}

/**
 * How long this Check may wait on the shared store: the store's timeout, but never past
 * the Check's own deadline less a margin to answer in — so a slow Redis ends in this
 * phase's answer (limits_unavailable, or the local count), not in the pipeline's
 * deadline_exceeded, and never holds Envoy past its deadline.
 */
export function storeWait(timeoutMs: number, answerBy: number): number {
  if (answerBy === Infinity) return timeoutMs;
  const left = answerBy - performance.now();
  // The margin leaves time for the fallback and the credential phase, and for a timer that fires late on a busy host.
  return Math.min(timeoutMs, Math.floor(left - Math.min(20, Math.max(0, left) / 10)));
}

function noteGrant(ctx: CheckContext, state: LimitState, grant: LimitGrant | undefined): void {
  if (!grant) return;
  addRecordAttribute(ctx, LIMIT_ATTR.id, grant.limitId);
  if (grant.reservationId !== undefined) {
    addRecordAttribute(ctx, LIMIT_ATTR.reservation, grant.reservationId);
    // A later phase's denial (key_unavailable, the deadline) means the provider is never called.
    onDenied(ctx, () => void releaseGrant(state.limiter.stores, grant));
  }
  if (grant.store === 'local') addRecordAttribute(ctx, LIMIT_ATTR.store, 'local');
  const { requests, tokens, costUsd } = grant.remaining;
  if (requests !== undefined) addRecordAttribute(ctx, LIMIT_ATTR.requests, requests);
  if (tokens !== undefined) addRecordAttribute(ctx, LIMIT_ATTR.tokens, tokens);
  if (costUsd !== undefined) addRecordAttribute(ctx, LIMIT_ATTR.costUsd, costUsd);
  for (const [name, value] of grant.headers) addResponseHeader(ctx, name, value);
}
