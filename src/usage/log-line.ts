/**
 * One line of the decision log, as `keybroker usage` reads it: a usage record
 * (`"msg":"usage"`, the record under `usage`), another log line (ignored), or a line that
 * claims to be a usage record but is not one (malformed: counted, never echoed — a log
 * line may hold anything).
 */
import { isRecord } from './counts.ts';
import { parseExactUsd } from './exact-usd.ts';

export interface UsageLine {
  readonly time: number;
  readonly identity: string;
  readonly person?: string | undefined;
  readonly destination: string;
  readonly model?: string | undefined;
  readonly metered: boolean;
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
  /** Exact pico-dollars; undefined when the cost is unknown (no price, or unmetered). */
  readonly costPicos?: bigint | undefined;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const optionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';

export function parseUsageLine(line: string): UsageLine | 'other' | 'malformed' {
  if (line.trim() === '') return 'other';
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'malformed';
  }
  if (!isRecord(value)) return 'malformed';
  if (value.msg !== 'usage' && !('usage' in value)) return 'other';
  const u = value.usage;
  if (!isRecord(u) || !isCount(value.time)) return 'malformed';
  if (typeof u.identity !== 'string' || typeof u.destination !== 'string' || typeof u.metered !== 'boolean') return 'malformed';
  if (!optionalString(u.person) || !optionalString(u.model) || !optionalString(u.costUsd)) return 'malformed';
  // An unmetered record may leave its (zero) counts out; a metered one states them.
  const counts = [u.inputTokens, u.cachedInputTokens, u.outputTokens].map((v) => (v === undefined && !u.metered ? 0 : v));
  if (!counts.every(isCount)) return 'malformed';
  const [inputTokens, cachedInputTokens, outputTokens] = counts as number[];
  let costPicos: bigint | undefined;
  if (u.costUsd !== undefined) {
    costPicos = parseExactUsd(u.costUsd as string);
    if (costPicos === undefined || costPicos < 0n) return 'malformed';
  }
  return {
    time: value.time,
    identity: u.identity,
    person: u.person as string | undefined,
    destination: u.destination,
    model: u.model as string | undefined,
    metered: u.metered,
    inputTokens: inputTokens!,
    cachedInputTokens: cachedInputTokens!,
    outputTokens: outputTokens!,
    costPicos,
  };
}
