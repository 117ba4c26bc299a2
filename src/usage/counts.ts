/**
 * Token counts as providers state them, checked: whole non-negative numbers, the cached
 * part no larger than the whole. Anything else is `unparseable` — a count keybroker would
 * have to guess at is not a count.
 */
import type { TokenCounts } from './types.ts';

export type CountsOrCause = TokenCounts | 'no_usage' | 'unparseable';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A stated count; `absent` for a field the provider may leave out (or null). */
export function count(value: unknown, absent?: number): number | undefined {
  if ((value === undefined || value === null) && absent !== undefined) return absent;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

export function tokenCounts(inputTokens: number | undefined, cachedInputTokens: number | undefined, outputTokens: number | undefined): CountsOrCause {
  if (inputTokens === undefined || cachedInputTokens === undefined || outputTokens === undefined) return 'unparseable';
  if (cachedInputTokens > inputTokens || !Number.isSafeInteger(inputTokens)) return 'unparseable';
  return { inputTokens, cachedInputTokens, outputTokens };
}

/** A nested object's field, when the object is there. */
export function field(value: unknown, key: string): unknown {
  return isRecord(value) ? value[key] : undefined;
}

/** The response model: a non-empty string, else unknown. */
export function modelOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
