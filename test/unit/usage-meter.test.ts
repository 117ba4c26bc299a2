/**
 * The usage parsers on recorded shapes of real provider responses (test/fixtures/usage/):
 * each family, streamed and not, fed whole, split at every byte boundary, byte by byte and
 * in random chunks; cut at every byte; usage absent; the headers that make a response
 * unmetered; and bounded memory on bodies far larger than anything a meter keeps.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createMeter, meterFor } from '../../src/usage/meter.ts';
import { JsonBodyMeter } from '../../src/usage/json-body.ts';
import { SseBodyMeter } from '../../src/usage/sse-body.ts';
import { SseSplitter } from '../../src/usage/sse.ts';
import { OpenAiEvents } from '../../src/usage/openai-sse.ts';
import { AnthropicEvents } from '../../src/usage/anthropic-sse.ts';
import { openAiTokens } from '../../src/usage/openai-usage.ts';
import { MAX_DEPTH } from '../../src/usage/json-scan.ts';
import { MODEL_CAP, TYPE_CAP, USAGE_CAP, WHOLE_BODY_CAP, WHOLE_EVENT_CAP } from '../../src/usage/bounds.ts';
import type { ResponseHead, UsageApi, UsageReading } from '../../src/usage/types.ts';

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/usage/${name}`, import.meta.url)));
const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

const JSON_HEAD: ResponseHead = { status: 200, contentType: 'application/json' };
const SSE_HEAD: ResponseHead = { status: 200, contentType: 'text/event-stream; charset=utf-8' };

/** `wholeCap` 0: every document scanned as it passes, never parsed whole. */
function read(api: UsageApi, head: ResponseHead, chunks: readonly Uint8Array[], complete = true, wholeCap?: number): UsageReading {
  const meter = meterFor(api, head, wholeCap);
  for (const chunk of chunks) meter.write(chunk);
  return meter.end(complete);
}

const metered = (model: string, inputTokens: number, cachedInputTokens: number, outputTokens: number): UsageReading => ({
  metered: true,
  model,
  tokens: { inputTokens, cachedInputTokens, outputTokens },
});

/** A small deterministic generator, so a failing random split can be reproduced. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomSplit(bytes: Uint8Array, next: () => number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = 1 + Math.floor(next() * 64);
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}

interface Case {
  readonly file: string;
  readonly api: UsageApi;
  readonly head: ResponseHead;
  readonly expected: UsageReading;
}

const CASES: readonly Case[] = [
  // prompt_tokens includes the 1024 cached ones; the content mentions "usage" as text only.
  { file: 'openai-chat.json', api: 'openai', head: JSON_HEAD, expected: metered('gpt-4o-mini-2024-07-18', 1117, 1024, 46) },
  // usage before model, and a "usage" key inside tool-call arguments (a string).
  { file: 'openai-chat-tool.json', api: 'openai', head: JSON_HEAD, expected: metered('gpt-4.1-2025-04-14', 82, 0, 17) },
  { file: 'openai-responses.json', api: 'openai', head: JSON_HEAD, expected: metered('o4-mini-2025-04-16', 2006, 1920, 300) },
  { file: 'openai-embeddings.json', api: 'openai', head: JSON_HEAD, expected: metered('text-embedding-3-small', 8, 0, 0) },
  { file: 'openai-chat-stream.sse', api: 'openai', head: SSE_HEAD, expected: metered('gpt-4o-mini-2024-07-18', 19, 0, 10) },
  { file: 'openai-responses-stream.sse', api: 'openai', head: SSE_HEAD, expected: metered('gpt-4.1-mini-2025-04-14', 37, 0, 11) },
  // input_tokens 21 + cache writes 188 + cache reads 1856; a nested "usage" in tool input.
  { file: 'anthropic-messages.json', api: 'anthropic', head: JSON_HEAD, expected: metered('claude-sonnet-4-20250514', 2065, 1856, 393) },
  { file: 'anthropic-messages-stream.sse', api: 'anthropic', head: SSE_HEAD, expected: metered('claude-3-5-haiku-20241022', 2520, 2048, 89) },
  // Two cumulative message_delta events: the last one counts, never their sum.
  { file: 'anthropic-messages-stream-server-tools.sse', api: 'anthropic', head: SSE_HEAD, expected: metered('claude-sonnet-4-20250514', 10682, 0, 510) },
  // Usage absent.
  { file: 'openai-chat-no-usage.json', api: 'openai', head: JSON_HEAD, expected: { metered: false, cause: 'no_usage', model: 'gpt-4o-mini-2024-07-18' } },
  { file: 'openai-chat-stream-no-usage.sse', api: 'openai', head: SSE_HEAD, expected: { metered: false, cause: 'no_usage', model: 'gpt-4o-mini-2024-07-18' } },
  { file: 'anthropic-messages-stream-error.sse', api: 'anthropic', head: SSE_HEAD, expected: { metered: false, cause: 'no_usage', model: 'claude-3-5-haiku-20241022' } },
];

const MODES = [
  { name: 'parsed whole', wholeCap: undefined },
  { name: 'scanned as it passes', wholeCap: 0 },
] as const;

for (const { name, wholeCap } of MODES) {
  describe(`usage meters on recorded provider responses, ${name}`, () => {
    for (const c of CASES) {
      describe(c.file, () => {
        const body = fixture(c.file);
        const readAs = (chunks: readonly Uint8Array[]) => read(c.api, c.head, chunks, true, wholeCap);

        it('reads the whole body', () => {
          expect(readAs([body])).to.deep.equal(c.expected);
        });

        it('reads it split in two at every byte boundary', () => {
          for (let k = 0; k <= body.length; k++) expect(readAs([body.slice(0, k), body.slice(k)]), `split at ${k}`).to.deep.equal(c.expected);
        });

        it('reads it one byte at a time, and in random chunks', () => {
          expect(readAs(Array.from(body, (b) => new Uint8Array([b])))).to.deep.equal(c.expected);
          const next = random(body.length);
          for (let round = 0; round < 25; round++) expect(readAs(randomSplit(body, next)), `round ${round}`).to.deep.equal(c.expected);
        });

        if (c.head === SSE_HEAD) {
          it('reads it with CRLF and with CR line endings', () => {
            const text = new TextDecoder().decode(body);
            for (const eol of ['\r\n', '\r']) {
              const variant = encode(text.replaceAll('\n', eol));
              expect(readAs([variant])).to.deep.equal(c.expected);
              for (let k = 0; k <= variant.length; k += 7) expect(readAs([variant.slice(0, k), variant.slice(k)]), `split at ${k}`).to.deep.equal(c.expected);
            }
          });
        }
      });
    }
  });
}

describe('usage meters on cut responses', () => {
  it('counts a non-streamed body cut at any byte as cut, or unparseable when it claims to be whole', () => {
    const body = fixture('openai-chat.json');
    for (const wholeCap of [undefined, 0]) {
      for (let k = 0; k < body.length; k++) {
        const cut = read('openai', JSON_HEAD, [body.slice(0, k)], false, wholeCap);
        expect(cut.metered === false && cut.cause, `cut at ${k}`).to.equal('cut');
      }
      // The last byte is a newline after the closing brace: dropping it still leaves whole JSON.
      for (let k = 0; k < body.lastIndexOf(0x7d) + 1; k++) {
        const truncated = read('openai', JSON_HEAD, [body.slice(0, k)], true, wholeCap);
        expect(truncated.metered === false && truncated.cause, `truncated at ${k}`).to.equal('unparseable');
      }
    }
  });

  it('meters an OpenAI chat stream once it ended with [DONE] or cleanly after its usage chunk', () => {
    const body = fixture('openai-chat-stream.sse');
    const text = new TextDecoder().decode(body);
    const usageEventEnd = encode(text.slice(0, text.indexOf('\n\n', text.indexOf('"usage":{')) + 2)).length;
    const chat = metered('gpt-4o-mini-2024-07-18', 19, 0, 10);
    for (let k = 0; k <= body.length; k++) {
      const wholeCap = k % 2 === 0 ? 0 : undefined;
      // Cut: only the whole stream, [DONE] included, is metered.
      const cut = read('openai', SSE_HEAD, [body.slice(0, k)], false, wholeCap);
      if (k === body.length) expect(cut, `cut at ${k}`).to.deep.equal(chat);
      else expect(cut.metered === false && cut.cause, `cut at ${k}`).to.equal('cut');
      // Ended cleanly without [DONE]: metered once the usage chunk was whole — unless the
      // stream stopped inside the [DONE] event, which is a cut.
      const ended = read('openai', SSE_HEAD, [body.slice(0, k)], true, wholeCap);
      if (k === usageEventEnd || k === body.length) expect(ended, `ended at ${k}`).to.deep.equal(chat);
      else if (k > usageEventEnd) expect(ended.metered || ended.cause === 'cut', `ended at ${k}`).to.equal(true);
      else expect(ended.metered, `ended at ${k}`).to.equal(false);
    }
  });

  it('does not take a running usage (every chunk) from a chat stream cut midway', () => {
    const chunk = (n: number) => `data: {"model":"m","choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"prompt_tokens":5,"completion_tokens":${n}}}\n\n`;
    const running = chunk(1) + chunk(2) + chunk(3);
    expect(read('openai', SSE_HEAD, [encode(running)], false)).to.deep.equal({ metered: false, cause: 'cut', model: 'm' });
    expect(read('openai', SSE_HEAD, [encode(running)], true)).to.deep.equal(metered('m', 5, 0, 3));
    expect(read('openai', SSE_HEAD, [encode(running + 'data: [DONE]\n\n')], false)).to.deep.equal(metered('m', 5, 0, 3));
  });

  it('meters a Responses stream once response.completed has arrived, cut or not', () => {
    const body = fixture('openai-responses-stream.sse');
    const text = new TextDecoder().decode(body);
    const completedAt = encode(text.slice(0, text.indexOf('event: response.completed'))).length;
    const reading = read('openai', SSE_HEAD, [body], false);
    expect(reading.metered).to.equal(true);
    expect(read('openai', SSE_HEAD, [body.slice(0, completedAt)], false)).to.include({ metered: false, cause: 'cut' });
    expect(read('openai', SSE_HEAD, [body.slice(0, completedAt)], true)).to.include({ metered: false, cause: 'no_usage' });
  });

  it('meters an Anthropic stream only once message_stop has arrived, at every cut', () => {
    const body = fixture('anthropic-messages-stream.sse');
    const stopEnd = body.length; // message_stop is the last event
    for (let k = 0; k < stopEnd; k++) {
      const reading = read('anthropic', SSE_HEAD, [body.slice(0, k)], false);
      expect(reading.metered === false && reading.cause, `cut at ${k}`).to.equal('cut');
      // A stream Envoy saw end cleanly, but mid-event or before the end of the message.
      const ended = read('anthropic', SSE_HEAD, [body.slice(0, k)], true);
      expect(ended.metered, `ended at ${k}`).to.equal(false);
    }
  });

  it('calls a cleanly ended stream cut when an event was left unfinished', () => {
    const text = new TextDecoder().decode(fixture('openai-chat-stream-no-usage.sse'));
    const unfinished = text.slice(0, text.indexOf('\n\n') + 10);
    expect(read('openai', SSE_HEAD, [encode(unfinished)], true)).to.include({ metered: false, cause: 'cut' });
  });
});

describe('usage meters on responses that are not metered', () => {
  const chat = fixture('openai-chat.json');

  it('does not read a non-200 answer, even one with a usage-like body', () => {
    expect(read('openai', { status: 429, contentType: 'application/json' }, [fixture('openai-error-429.json')])).to.deep.equal({ metered: false, cause: 'status' });
    expect(read('anthropic', { status: 529, contentType: 'application/json' }, [fixture('anthropic-error-529.json')])).to.deep.equal({ metered: false, cause: 'status' });
    expect(read('openai', { status: 201, contentType: 'application/json' }, [chat])).to.deep.equal({ metered: false, cause: 'status' });
  });

  it('does not decode a compressed body', () => {
    for (const encoding of ['gzip', 'br', 'deflate, gzip', 'zstd'])
      expect(read('openai', { ...JSON_HEAD, contentEncoding: encoding }, [gzipSync(chat)])).to.deep.equal({ metered: false, cause: 'encoding' });
    expect(read('openai', { ...JSON_HEAD, contentEncoding: ' Identity ' }, [chat])).to.deep.equal(metered('gpt-4o-mini-2024-07-18', 1117, 1024, 46));
  });

  it('reads only JSON and event streams', () => {
    for (const contentType of [undefined, 'text/html', 'text/plain', 'application/jsonl', 'application/x-ndjson'])
      expect(read('openai', { status: 200, ...(contentType && { contentType }) }, [chat])).to.deep.equal({ metered: false, cause: 'content_type' });
    expect(read('openai', { status: 200, contentType: 'Application/JSON; charset=utf-8' }, [chat]).metered).to.equal(true);
  });

  it('refuses a body that is not JSON, and usage that is not counts', () => {
    // Parsed whole and scanned, the same answer.
    const cause = (api: UsageApi, head: ResponseHead, text: string) => {
      const causes = [undefined, 0].map((wholeCap) => {
        const reading = read(api, head, [encode(text)], true, wholeCap);
        return reading.metered ? 'metered' : reading.cause;
      });
      expect(causes[0], text).to.equal(causes[1]);
      return causes[0];
    };
    expect(cause('openai', JSON_HEAD, '<html>502 Bad Gateway</html>')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"usage":{"prompt_tokens":1,}}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"usage":{"prompt_tokens":1}} {}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"model":"m" "usage":{}}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"model":"m","choices":[1,2}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"model":"m","ok":tru}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"usage":{"prompt_tokens":-1}}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"usage":{"prompt_tokens":1.5}}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"usage":{"prompt_tokens":"7"}}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"usage":{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":6}}}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"usage":{"total_tokens":5}}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"usage":[1]}')).to.equal('unparseable');
    expect(cause('openai', JSON_HEAD, '{"usage":null,"model":"m"}')).to.equal('no_usage');
    expect(cause('openai', JSON_HEAD, '[]')).to.equal('no_usage');
    expect(cause('anthropic', JSON_HEAD, '{"usage":{"output_tokens":3}}')).to.equal('unparseable');
    expect(cause('anthropic', JSON_HEAD, '{"usage":{"input_tokens":3,"output_tokens":1,"cache_read_input_tokens":-2}}')).to.equal('unparseable');
    expect(cause('openai', SSE_HEAD, 'data: {"usage":{"prompt_tokens":1}}\n\ndata: not json\n\n')).to.equal('unparseable');
    expect(cause('openai', SSE_HEAD, 'data: {"choices":[],"usage":{"prompt_tokens":"x"}}\n\n')).to.equal('unparseable');
    expect(cause('anthropic', SSE_HEAD, 'data: {"type":"message_delta","usage":{"output_tokens":3}}\n\n')).to.equal('unparseable');
    expect(cause('anthropic', SSE_HEAD, 'data: {"type":"message_start","message":{"usage":"many"}}\n\n')).to.equal('unparseable');
  });

  it('refuses, scanned as parsed, what JSON.parse refuses: bad escapes, bad numbers, a bare number', () => {
    for (const wholeCap of [undefined, 0]) {
      const cause = (text: string) => {
        const reading = read('openai', JSON_HEAD, [encode(text)], true, wholeCap);
        return reading.metered ? 'metered' : reading.cause;
      };
      expect(cause('{"mo\\qdel":"m","usage":{"prompt_tokens":1}}')).to.equal('unparseable');
      expect(cause('{"usage":{"prompt_tokens":1-2}}')).to.equal('unparseable');
      expect(cause('{"model":"m","usage":{"prompt_tokens":1}}')).to.equal('metered');
      expect(cause('42')).to.equal('no_usage');
    }
  });

  it('is what createMeter gives for each family and head', () => {
    expect(createMeter('anthropic', JSON_HEAD).end(false)).to.deep.equal({ metered: false, cause: 'cut' });
    expect(createMeter('openai', { status: 500 }).end(true)).to.deep.equal({ metered: false, cause: 'status' });
  });

  it('reads keys as JSON.parse does: escapes decoded, the last of duplicates', () => {
    for (const wholeCap of [undefined, 0]) {
      const reading = read('openai', JSON_HEAD, [encode('{"mod\\u0065l":"a","usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2,"completion_tokens":3},"model":"b"}')], true, wholeCap);
      expect(reading).to.deep.equal(metered('b', 2, 0, 3));
      expect(read('openai', JSON_HEAD, [encode('{"\\u006dodel":"x","usage":{"input_tokens":4,"output_tokens":5}}')], true, wholeCap)).to.deep.equal(metered('x', 4, 0, 5));
    }
  });

  it('keeps an SSE comment, id and retry out of the data, and joins multi-line data', () => {
    const stream = ': keep-alive\nid: 7\nretry: 10\nevent: x\ndata: {"model":"m",\ndata:"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":1}}\n\ndata: [DONE]\n\n';
    for (const wholeCap of [undefined, 0]) {
      expect(read('openai', SSE_HEAD, [encode('\uFEFF' + stream)], true, wholeCap)).to.deep.equal(metered('m', 4, 0, 1));
      expect(read('openai', SSE_HEAD, [encode(stream)], true, wholeCap)).to.deep.equal(metered('m', 4, 0, 1));
    }
  });
});

describe('SSE splitter', () => {
  it('hands over data lines joined by LF, "data" alone as an empty one, and nothing else', () => {
    const events: string[] = [];
    let current = '';
    const splitter = new SseSplitter({
      data: (bytes) => {
        current += new TextDecoder().decode(bytes);
      },
      dispatch: () => {
        events.push(current);
        current = '';
      },
    });
    splitter.write(encode('data\ndata: x\ndata:  y\n\n: comment\nevent: e\nid: 1\n\ndatax: no\ndata:z'));
    expect(events).to.deep.equal(['\nx\n y']);
    expect(splitter.pending).to.equal(true);
    splitter.write(encode('\r\n\r\n'));
    expect(events).to.deep.equal(['\nx\n y', 'z']);
    expect(splitter.pending).to.equal(false);
  });
});

describe('usage meters in bounded memory', () => {
  it('meters a 32 MB completion holding no more than its caps', () => {
    const meter = new JsonBodyMeter(openAiTokens);
    const head = encode('{"id":"chatcmpl-x","model":"gpt-4o","choices":[{"message":{"content":"');
    const filler = encode('All work and no play \\"makes\\" a dull completion. \\n'.repeat(1300));
    const tail = encode('"}}],"usage":{"prompt_tokens":12,"completion_tokens":8000000}}');
    let most = 0;
    meter.write(head);
    for (let written = 0; written < 32 * 1024 * 1024; written += filler.length) {
      meter.write(filler);
      most = Math.max(most, meter.retainedBytes);
    }
    meter.write(tail);
    expect(meter.end(true)).to.deep.equal(metered('gpt-4o', 12, 0, 8_000_000));
    // Both captured values, and the keys on the way to them.
    expect(most).to.be.at.most(WHOLE_BODY_CAP + USAGE_CAP + MODEL_CAP + 256);
  });

  it("meters a stream of 100,000 events holding no more than one event's caps", () => {
    const meter = new SseBodyMeter(new AnthropicEvents());
    meter.write(encode('event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":10,"output_tokens":1}}}\n\n'));
    const delta = encode('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a token of text, again and again"}}\n\n'.repeat(1000));
    let most = 0;
    for (let i = 0; i < 100; i++) {
      meter.write(delta);
      most = Math.max(most, meter.retainedBytes);
    }
    meter.write(encode('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":100000}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'));
    expect(meter.end(true)).to.deep.equal(metered('claude-x', 10, 0, 100_000));
    expect(most).to.be.at.most(WHOLE_EVENT_CAP + TYPE_CAP + MODEL_CAP + 2 * USAGE_CAP + 256);
  });

  it('gives up with too_large on a value beyond its cap, or nesting beyond its depth', () => {
    const big = `{"usage":{"prompt_tokens":1,"pad":"${'x'.repeat(USAGE_CAP)}"}}`;
    const meter = new JsonBodyMeter(openAiTokens, 0);
    for (let at = 0; at < big.length; at += 1000) {
      meter.write(encode(big.slice(at, at + 1000)));
      expect(meter.retainedBytes).to.be.at.most(USAGE_CAP + 256);
    }
    expect(meter.end(true)).to.deep.equal({ metered: false, cause: 'too_large' });
    for (const wholeCap of [undefined, 0]) {
      expect(read('openai', JSON_HEAD, [encode(big)], true, wholeCap)).to.deep.equal({ metered: false, cause: 'too_large' });
      const model = `{"model":"${'m'.repeat(MODEL_CAP)}","usage":{"prompt_tokens":1}}`;
      expect(read('openai', JSON_HEAD, [encode(model)], true, wholeCap)).to.deep.equal({ metered: false, cause: 'too_large' });
      expect(read('openai', SSE_HEAD, [encode(`data: ${model}\n\n`)], true, wholeCap)).to.deep.equal({ metered: false, cause: 'too_large' });
    }
    // Nesting is followed only when scanning; parsed whole, V8's parser has its own bound.
    const deep = `{"a":${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)},"usage":{"prompt_tokens":1}}`;
    expect(read('openai', JSON_HEAD, [encode(deep)], true, 0)).to.deep.equal({ metered: false, cause: 'too_large' });
    const deepOk = `{"a":${'['.repeat(MAX_DEPTH - 1)}${']'.repeat(MAX_DEPTH - 1)},"usage":{"prompt_tokens":1},"model":"m"}`;
    expect(read('openai', JSON_HEAD, [encode(deepOk)], true, 0)).to.deep.equal(metered('m', 1, 0, 0));
  });

  it('ignores what follows a failure instead of working on it', () => {
    const meter = new SseBodyMeter(new OpenAiEvents(), 0);
    meter.write(encode('data: {"model":"m","x":nope}\n\n'));
    meter.write(encode('data: {"choices":[],"usage":{"prompt_tokens":4}}\n\n'));
    expect(meter.end(true)).to.deep.equal({ metered: false, cause: 'unparseable' });
  });
});
