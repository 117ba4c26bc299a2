/**
 * Anthropic's message stream: `message_start` carries `message.model` and the input
 * counts in `message.usage`; each `message_delta` carries cumulative `usage` (output, and
 * on newer API versions the input fields too — a field it states replaces the earlier
 * value, it is never added: with server tools several deltas arrive); `message_stop` ends
 * the message. Only a stream that reached `message_stop` is metered: before it, a later
 * delta could still raise the counts.
 */
import { anthropicCounts, anthropicFields, type AnthropicFields } from './anthropic-usage.ts';
import { isRecord, modelOf } from './counts.ts';
import type { Values } from './json-document.ts';
import { MODEL_CAP, TYPE_CAP, USAGE_CAP } from './bounds.ts';
import type { EventReader } from './sse-body.ts';
import type { TokenCounts, UnmeteredCause, UsageReading } from './types.ts';

export class AnthropicEvents implements EventReader {
  readonly wanted = [
    { path: ['type'], cap: TYPE_CAP },
    { path: ['message', 'model'], cap: MODEL_CAP },
    { path: ['message', 'usage'], cap: USAGE_CAP },
    { path: ['usage'], cap: USAGE_CAP },
  ];
  model: string | undefined;
  private fields: AnthropicFields | undefined;
  private tokens: TokenCounts | undefined;

  event(scan: Values): UnmeteredCause | undefined {
    const type = scan.get(['type']);
    if (type === 'message_start') {
      this.model = modelOf(scan.get(['message', 'model'])) ?? this.model;
      return this.update(scan.get(['message', 'usage']), {});
    }
    if (type === 'message_delta') {
      if (!this.fields) return 'unparseable';
      return this.update(scan.get(['usage']), this.fields);
    }
    if (type === 'message_stop' && this.fields) {
      const tokens = anthropicCounts(this.fields);
      if (typeof tokens === 'string') return tokens;
      this.tokens = tokens;
    }
    return undefined;
  }

  private update(usage: unknown, base: AnthropicFields): UnmeteredCause | undefined {
    if (usage === undefined || usage === null) return undefined;
    if (!isRecord(usage)) return 'unparseable';
    const fields = anthropicFields(usage, base);
    if (!fields) return 'unparseable';
    this.fields = fields;
    return undefined;
  }

  reading(cut: boolean): UsageReading {
    const model = this.model !== undefined ? { model: this.model } : {};
    if (this.tokens) return { metered: true, tokens: this.tokens, ...model };
    return { metered: false, cause: cut ? 'cut' : 'no_usage', ...model };
  }
}
