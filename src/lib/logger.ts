import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * The process logger. Redaction is a second line of defence: no code path puts a key or
 * token in a log record, and these paths catch one if a future change tries.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'keybroker' },
    redact: {
      paths: ['*.authorization', '*.headers', '*.token', '*.key', '*.value', '*.secret', 'req.headers'],
      censor: '[redacted]',
    },
  };
  if (destination) return pino(options, destination);
  // stdout, buffered and written asynchronously so that a Check never waits on a write
  // syscall: lines leave in 8 KiB chunks or every 100 ms; shutdown flushes the rest.
  const stdout = pino.destination({ dest: 1, sync: false, minLength: 8 * 1024 });
  setInterval(() => stdout.flush(), 100).unref();
  return pino(options, stdout);
}
