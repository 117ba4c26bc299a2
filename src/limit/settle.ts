/**
 * Settling a reservation from its request's usage record: the estimate reserved at Check
 * becomes what the provider says was used. The record may be metered by any replica (the
 * one whose ext_proc saw the response): with the Redis store the reservation lives in
 * Redis, so whichever replica settles it, nothing in process memory is needed.
 *
 * What the record does not know keeps the estimate charged: an unmetered response (cut,
 * compressed, no usage) keeps all of it; a metered one without a price keeps the cost
 * estimate and settles the tokens.
 */
import type { Logger } from 'pino';
import type { LimitStores } from './stores.ts';
import type { Usage } from './types.ts';

/** The fields of a usage record (src/usage/record.ts `UsageRecord`) that settling reads. */
export interface UsageToSettle {
  /** From the allowed answer's `limit_reservation` metadata; absent when nothing was reserved. */
  readonly reservationId?: string | undefined;
  readonly metered: boolean;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Absent when the price is unknown or the response unmetered; `micros` is whole µUSD, rounded up. */
  readonly cost?: { readonly micros: number } | undefined;
}

/** Reservation ids keybroker makes: a decision id, `#` and a random UUID (docs/limits.md). */
const RESERVATION_ID = /^[\x21-\x7e]{1,300}$/;

/**
 * Settles `record`'s reservation in the shared store, or in this replica's local count if
 * the request was counted there. Resolves false when there was nothing to settle (no
 * reservation, unknown, or already timed out); rejects when the store cannot answer.
 */
export async function settleReservation(stores: LimitStores, record: UsageToSettle): Promise<boolean> {
  const id = record.reservationId;
  if (id === undefined || !RESERVATION_ID.test(id)) return false;
  const usage = usageOf(record);
  if (await stores.primary.settle(id, usage)) return true;
  return stores.local ? stores.local.settle(id, usage) : false;
}

function usageOf(record: UsageToSettle): Usage {
  if (!record.metered) return {};
  return { inputTokens: record.inputTokens, outputTokens: record.outputTokens, costMicros: record.cost?.micros };
}

/**
 * The usage sink the server registers after the audit's: each record with a reservation
 * settles it in the stores of the runtime in force. Never throws (a sink must not break
 * the others); a store that cannot answer leaves the estimate charged until the
 * reservation's timeout (docs/limits.md), and says so in the log.
 */
export function settleSink(stores: () => LimitStores | undefined, log: Logger): (record: UsageToSettle) => void {
  return (record) => {
    if (record.reservationId === undefined) return;
    const current = stores();
    if (!current) return;
    settleReservation(current, record).catch((error: unknown) =>
      log.warn({ err: (error as Error)?.message ?? String(error), reservation: record.reservationId }, 'limit reservation not settled: the estimate stays charged'),
    );
  };
}
