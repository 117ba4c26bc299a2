/**
 * The decision log: one JSON line per Check, the same facts as the audit record, in the
 * process log's stream and shape (`level`, `time`, `service`, `msg`, the record under
 * `decision`).
 *
 * It is written straight to the logger's destination rather than through pino's
 * formatting, which cost more than the rest of a Check: the record is built field by
 * field from identifiers (never a header value, key or token), so it needs neither
 * pino's serializers nor its redaction.
 *
 * Lines are handed to the destination in batches, at the end of the event-loop turn that
 * produced them (or sooner, once a batch is 8 KiB): pino's destination (sonic-boom)
 * measures its whole pending buffer on every write, which one write per line turned into
 * the most expensive step of a Check.
 */
import { pino, type Logger } from 'pino';
import type { Auditor } from './auditor.ts';

const INFO = 30;
const BATCH_CHARS = 8 * 1024;

export function decisionLog(log: Logger): Auditor {
  if (!log.isLevelEnabled('info')) return { record() {} };
  const stream = (log as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym];
  if (!stream) throw new Error('the logger has no destination stream');
  let batch = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (batch === '') return;
    const lines = batch;
    batch = '';
    stream.write(lines);
  };
  return {
    record(record) {
      const msg = record.decision === 'allow' ? 'check allowed' : 'check denied';
      batch += `{"level":${INFO},"time":${Date.now()},"service":"keybroker","decision":${JSON.stringify(record)},"msg":"${msg}"}\n`;
      if (batch.length >= BATCH_CHARS) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
