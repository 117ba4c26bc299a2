/** The decision log: one pino line per Check, the same facts as the audit record. */
import type { Logger } from 'pino';
import type { Auditor } from './auditor.ts';

export function decisionLog(log: Logger): Auditor {
  // The record is built field by field from identifiers (never a header value, key or
  // token), so this hot-path logger skips the process logger's wildcard redaction.
  const decisions = log.child({}, { redact: [] });
  return {
    record(record) {
      decisions.info({ decision: record }, record.decision === 'allow' ? 'check allowed' : 'check denied');
    },
  };
}
