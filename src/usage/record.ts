/**
 * The usage record: what one provider response used, joined to the decision that let the
 * request out (by its decision id). One per response on a metered route, metered or not:
 * an unmetered one says why (`cause`) and carries zero tokens, never a guess. Like the
 * decision record it carries identifiers and counts only — never a prompt, a completion,
 * a key or a token.
 *
 * Records go to sinks (`UsageSink`), wired in `server/start.ts`: the audit's span, log
 * line and metrics first, then whoever else needs the real use (the limits store settles
 * its reservation from it).
 */
import type { ForwardedDecision } from '../model/processing.ts';
import type { UnmeteredCause, UsageApi, UsageReading } from './types.ts';

/** The cost of one response, as the price table computes it. */
export interface Cost {
  /** Exact decimal USD. */
  readonly usd: string;
  /** Whole µUSD, rounded up (what limits count). */
  readonly micros: number;
}

export interface UsageRecord {
  readonly decisionId: string;
  /** The agent's SPIFFE ID, as the decision recorded it. */
  readonly identity: string;
  /** The natural person's `sub`, when the decision verified one. */
  readonly person?: string;
  readonly destination: string;
  readonly api: UsageApi;
  /** The model the provider says answered (from the response body). */
  readonly model?: string;
  readonly metered: boolean;
  readonly cause?: UnmeteredCause;
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
  /** Absent when unmetered or the price of the model is unknown. */
  readonly cost?: Cost;
  /** The limits phase's reservation, from the forwarded metadata (`limit_reservation`). */
  readonly reservationId?: string;
  readonly keyId?: string;
  /** The decision's `keybroker.check` span (W3C traceparent), when it was traced. */
  readonly checkSpan?: string;
  /** Epoch ms: the request reached Envoy (or its headers keybroker); the response ended. */
  readonly startTime: number;
  readonly endTime: number;
}

/** Receives every usage record. Must not throw and must not block. */
export type UsageSink = (record: UsageRecord) => void;

/** What the exchange joined before the response: the decision and its destination's API. */
export interface UsageJoin {
  readonly decision: ForwardedDecision & { readonly identity: string; readonly destination: string };
  readonly api: UsageApi;
  readonly startTime: number;
}

export function usageRecord(join: UsageJoin, reading: UsageReading, cost: Cost | undefined, endTime: number): UsageRecord {
  const { decision } = join;
  const tokens = reading.metered ? reading.tokens : { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0 };
  const record: { -readonly [K in keyof UsageRecord]: UsageRecord[K] } = {
    decisionId: decision.decisionId,
    identity: decision.identity,
    destination: decision.destination,
    api: join.api,
    metered: reading.metered,
    inputTokens: tokens.inputTokens,
    cachedInputTokens: tokens.cachedInputTokens,
    outputTokens: tokens.outputTokens,
    startTime: join.startTime,
    endTime,
  };
  if (decision.person !== undefined) record.person = decision.person;
  if (reading.model !== undefined) record.model = reading.model;
  if (!reading.metered) record.cause = reading.cause;
  if (reading.metered && cost) record.cost = cost;
  if (decision.reservationId !== undefined) record.reservationId = decision.reservationId;
  if (decision.keyId !== undefined) record.keyId = decision.keyId;
  if (decision.checkSpan !== undefined) record.checkSpan = decision.checkSpan;
  return record;
}

/** Every sink, in order; one that throws never keeps the record from the others. */
export function allUsageSinks(sinks: readonly UsageSink[]): UsageSink {
  return (record) => {
    for (const sink of sinks) {
      try {
        sink(record);
      } catch {
        // A sink failing must never affect another, nor the stream.
      }
    }
  };
}
