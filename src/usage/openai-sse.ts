/**
 * OpenAI's streams. Chat completions (with `stream_options.include_usage`) end with one
 * chunk whose `usage` covers the whole request, every earlier chunk carrying
 * `"usage": null`; without the option no chunk states usage (`no_usage`). The Responses
 * API ends with `response.completed` (or `response.incomplete` / `response.failed`)
 * carrying `response.usage`, which is final: once it has arrived, the reading is metered
 * even if the stream is cut afterwards. A chat chunk's usage counts once the stream has
 * ended — `data: [DONE]`, or cleanly — because some OpenAI-compatible servers state a
 * running usage in every chunk (vLLM's continuous usage stats), and a count from a
 * stream cut midway would be a guess. Before that, a cut is `cut`.
 */
import type { Values } from './json-document.ts';
import { modelOf } from './counts.ts';
import { MODEL_CAP, TYPE_CAP, USAGE_CAP } from './bounds.ts';
import { openAiTokens } from './openai-usage.ts';
import type { EventReader } from './sse-body.ts';
import type { TokenCounts, UnmeteredCause, UsageReading } from './types.ts';

const FINAL_RESPONSE_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

export class OpenAiEvents implements EventReader {
  readonly wanted = [
    { path: ['type'], cap: TYPE_CAP },
    { path: ['model'], cap: MODEL_CAP },
    { path: ['usage'], cap: USAGE_CAP },
    { path: ['response', 'model'], cap: MODEL_CAP },
    { path: ['response', 'usage'], cap: USAGE_CAP },
  ];
  model: string | undefined;
  /** From a final Responses API event. */
  private final: TokenCounts | undefined;
  /** The last chat chunk's usage. */
  private latest: TokenCounts | undefined;
  private sawDone = false;

  event(scan: Values): UnmeteredCause | undefined {
    this.model = modelOf(scan.get(['model'])) ?? modelOf(scan.get(['response', 'model'])) ?? this.model;
    const type = scan.get(['type']);
    const final = typeof type === 'string' && FINAL_RESPONSE_EVENTS.has(type);
    const tokens = openAiTokens(final ? scan.get(['response', 'usage']) : scan.get(['usage']));
    if (tokens === 'unparseable') return tokens;
    if (tokens !== 'no_usage') {
      if (final) this.final = tokens;
      else this.latest = tokens;
    }
    return undefined;
  }

  done(): void {
    this.sawDone = true;
  }

  reading(cut: boolean): UsageReading {
    const model = this.model !== undefined ? { model: this.model } : {};
    const tokens = this.final ?? (cut && !this.sawDone ? undefined : this.latest);
    if (tokens) return { metered: true, tokens, ...model };
    return { metered: false, cause: cut ? 'cut' : 'no_usage', ...model };
  }
}
