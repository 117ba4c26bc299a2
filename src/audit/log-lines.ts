/**
 * Lines for the process log's destination, written straight to it rather than through
 * pino's formatting (which cost more than the rest of a Check), in batches: at the end of
 * the event-loop turn that produced them, or sooner once a batch is 8 KiB. pino's
 * destination (sonic-boom) measures its whole pending buffer on every write, which one
 * write per line turned into the most expensive step of a Check.
 *
 * Callers build each line from identifiers only (never a header value, key or token), so
 * it needs neither pino's serializers nor its redaction.
 */
import { pino, type Logger } from 'pino';

const BATCH_CHARS = 8 * 1024;

export interface LineWriter {
  write(line: string): void;
  flush(): void;
}

export function batchedLines(log: Logger): LineWriter {
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
    write(line) {
      batch += line;
      if (batch.length >= BATCH_CHARS) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
