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
  return destination ? pino(options, destination) : pino(options);
}
