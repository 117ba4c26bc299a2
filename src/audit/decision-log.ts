/**
 * The decision log: one JSON line per Check, the same facts as the audit record, in the
 * process log's stream and shape (`level`, `time`, `service`, `msg`, the record under
 * `decision`), written in batches straight to the destination (`log-lines.ts`).
 */
import type { Logger } from 'pino';
import type { Auditor } from './auditor.ts';
import { batchedLines } from './log-lines.ts';

const INFO = 30;

export function decisionLog(log: Logger): Auditor {
  if (!log.isLevelEnabled('info')) return { record() {} };
  const lines = batchedLines(log);
  return {
    record(record) {
      const msg = record.decision === 'allow' ? 'check allowed' : 'check denied';
      lines.write(`{"level":${INFO},"time":${Date.now()},"service":"keybroker","decision":${JSON.stringify(record)},"msg":"${msg}"}\n`);
    },
    flush: lines.flush,
  };
}
