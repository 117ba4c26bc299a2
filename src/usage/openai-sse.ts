/**
 * OpenAI's streams. Chat completions (with `stream_options.include_usage`) end with one
 * chunk whose `usage` covers the whole request, every earlier chunk carrying
 * `"usage": null`; without the option no chunk states usage (`no_usage`). The Responses
 * API ends with `response.completed` (or `response.incomplete` / `response.failed`)
 * carrying `response.usage`. Those are final: once one has arrived, the reading is
 * metered even if the stream is cut afterwards; before it, a cut is `cut`.
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
  private tokens: TokenCounts | undefined;

  event(scan: Values): UnmeteredCause | undefined {
    this.model = modelOf(scan.get(['model'])) ?? modelOf(scan.get(['response', 'model'])) ?? this.model;
    const type = scan.get(['type']);
    const usage = typeof type === 'string' && FINAL_RESPONSE_EVENTS.has(type) ? scan.get(['response', 'usage']) : scan.get(['usage']);
    const tokens = openAiTokens(usage);
    if (tokens === 'unparseable') return tokens;
    if (tokens !== 'no_usage') this.tokens = tokens;
    return undefined;
  }

  reading(cut: boolean): UsageReading {
    const model = this.model !== undefined ? { model: this.model } : {};
    if (this.tokens) return { metered: true, tokens: this.tokens, ...model };
    return { metered: false, cause: cut ? 'cut' : 'no_usage', ...model };
  }
}
