/** The decision log: one pino line per Check, the same facts as the audit record. */
import type { Logger } from 'pino';
import type { Auditor } from './auditor.ts';

export function decisionLog(log: Logger): Auditor {
  return {
    record(record) {
      log.info({ decision: record }, record.decision === 'allow' ? 'check allowed' : 'check denied');
    },
  };
}
