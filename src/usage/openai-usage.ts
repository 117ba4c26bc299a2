/**
 * OpenAI's `usage` object, in its two shapes:
 * - chat completions, legacy completions and embeddings: `prompt_tokens`,
 *   `completion_tokens` (absent for embeddings: 0), `prompt_tokens_details.cached_tokens`;
 * - the Responses API: `input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`.
 * In both, the input count includes the cached tokens and the output count includes
 * reasoning tokens, which is what TokenCounts means.
 */
import { count, field, isRecord, tokenCounts, type CountsOrCause } from './counts.ts';

export function openAiTokens(usage: unknown): CountsOrCause {
  if (usage === undefined || usage === null) return 'no_usage';
  if (!isRecord(usage)) return 'unparseable';
  if ('prompt_tokens' in usage) {
    return tokenCounts(count(usage.prompt_tokens), count(field(usage.prompt_tokens_details, 'cached_tokens'), 0), count(usage.completion_tokens, 0));
  }
  if ('input_tokens' in usage) {
    return tokenCounts(count(usage.input_tokens), count(field(usage.input_tokens_details, 'cached_tokens'), 0), count(usage.output_tokens));
  }
  return 'unparseable';
}
