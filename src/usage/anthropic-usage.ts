/**
 * Anthropic's `usage` object. Its `input_tokens` counts only the input that was neither
 * read from nor written to the prompt cache; `cache_read_input_tokens` and
 * `cache_creation_input_tokens` are the rest. So, in TokenCounts' terms (every input
 * token, cached ones included):
 *
 *   inputTokens       = input_tokens + cache_creation_input_tokens + cache_read_input_tokens
 *   cachedInputTokens = cache_read_input_tokens
 *
 * Cache writes are priced as ordinary input: Anthropic bills them at 1.25× (5-minute
 * cache) or 2× (1-hour cache) the input rate, so the computed cost is low by that premium
 * on the written tokens — documented in docs/usage-and-prices.md.
 */
import { count, isRecord, tokenCounts, type CountsOrCause } from './counts.ts';

/** The raw fields, as message_start states them and message_delta updates them. */
export interface AnthropicFields {
  readonly input?: number | undefined;
  readonly cacheRead?: number | undefined;
  readonly cacheCreation?: number | undefined;
  readonly output?: number | undefined;
}

/** The fields present in `usage` (a field left out or null keeps `base`'s value); undefined when one is not a count. */
export function anthropicFields(usage: Record<string, unknown>, base: AnthropicFields = {}): AnthropicFields | undefined {
  const read = (key: string, previous: number | undefined): number | undefined | false => {
    const value = usage[key];
    if (value === undefined || value === null) return previous;
    return count(value) ?? false;
  };
  const input = read('input_tokens', base.input);
  const cacheRead = read('cache_read_input_tokens', base.cacheRead);
  const cacheCreation = read('cache_creation_input_tokens', base.cacheCreation);
  const output = read('output_tokens', base.output);
  if (input === false || cacheRead === false || cacheCreation === false || output === false) return undefined;
  return { input, cacheRead, cacheCreation, output };
}

export function anthropicCounts(fields: AnthropicFields | undefined): CountsOrCause {
  if (!fields || fields.input === undefined || fields.output === undefined) return 'unparseable';
  const cacheRead = fields.cacheRead ?? 0;
  return tokenCounts(fields.input + (fields.cacheCreation ?? 0) + cacheRead, cacheRead, fields.output);
}

export function anthropicTokens(usage: unknown): CountsOrCause {
  if (usage === undefined || usage === null) return 'no_usage';
  if (!isRecord(usage)) return 'unparseable';
  return anthropicCounts(anthropicFields(usage));
}
