/**
 * The decision log: one JSON line per Check, the same facts as the audit record, in the
 * process log's stream and shape (`level`, `time`, `service`, `msg`, the record under
 * `decision`).
 *
 * It is written straight to the logger's destination rather than through pino's
 * formatting, which cost more than the rest of a Check: the record is built field by
 * field from identifiers (never a header value, key or token), so it needs neither
 * pino's serializers nor its redaction.
 */
import { pino, type Logger } from 'pino';
import type { Auditor } from './auditor.ts';

const INFO = 30;

export function decisionLog(log: Logger): Auditor {
  if (!log.isLevelEnabled('info')) return { record() {} };
  const stream = (log as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym];
  if (!stream) throw new Error('the logger has no destination stream');
  return {
    record(record) {
      const msg = record.decision === 'allow' ? 'check allowed' : 'check denied';
      stream.write(`{"level":${INFO},"time":${Date.now()},"service":"keybroker","decision":${JSON.stringify(record)},"msg":"${msg}"}\n`);
    },
  };
}
