import type { DecisionRecord } from '../model/check.ts';

/** Receives every decision record. Must not throw and must not block. */
export interface Auditor {
  record(record: DecisionRecord): void;
  /** Hands over whatever the sink still holds; called at shutdown. */
  flush?(): void;
}

export function allAuditors(auditors: readonly Auditor[]): Auditor {
  return {
    record(record) {
      for (const auditor of auditors) {
        try {
          auditor.record(record);
        } catch {
          // An audit sink failing must never change or delay a decision.
        }
      }
    },
    flush() {
      for (const auditor of auditors) auditor.flush?.();
    },
  };
}
