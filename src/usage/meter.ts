/**
 * A meter for one response: chosen by the destination's API family and the response's
 * headers. What can be told from the headers alone is told at once — not 200, a
 * `content-encoding` keybroker does not undo (gzip, br…: decoding a provider's compressed
 * stream would cost CPU on every response to save bandwidth on loopback), a content type
 * that is neither JSON nor an event stream — and the body is then not read at all: the
 * exchange ends the stream at the headers, so Envoy stops copying the body to keybroker.
 */
import { JsonBodyMeter } from './json-body.ts';
import { SseBodyMeter } from './sse-body.ts';
import { OpenAiEvents } from './openai-sse.ts';
import { AnthropicEvents } from './anthropic-sse.ts';
import { openAiTokens } from './openai-usage.ts';
import { anthropicTokens } from './anthropic-usage.ts';
import type { ResponseHead, UnmeteredCause, UsageApi, UsageMeter, UsageReading } from './types.ts';

export function createMeter(api: UsageApi, head: ResponseHead): UsageMeter {
  return meterFor(api, head);
}

/** `createMeter`, with the size up to which a document is parsed whole (tests: 0, always scanned). */
export function meterFor(api: UsageApi, head: ResponseHead, wholeCap?: number): UsageMeter {
  const format = formatOf(head);
  if (format === 'json') return new JsonBodyMeter(api === 'openai' ? openAiTokens : anthropicTokens, wholeCap);
  if (format === 'sse') return new SseBodyMeter(api === 'openai' ? new OpenAiEvents() : new AnthropicEvents(), wholeCap);
  return unmetered(format);
}

/** How the body is to be read, or why it is not. */
export function formatOf(head: ResponseHead): 'json' | 'sse' | UnmeteredCause {
  if (head.status !== 200) return 'status';
  const encoding = head.contentEncoding?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') return 'encoding';
  const type = (head.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return 'json';
  if (type === 'text/event-stream') return 'sse';
  return 'content_type';
}

function unmetered(cause: UnmeteredCause): UsageMeter {
  const reading: UsageReading = { metered: false, cause };
  return { write: () => undefined, end: () => reading, decided: true };
}
