/**
 * A fake provider API: HTTPS under its own CA, recording exactly what it receives (raw
 * header list, so duplicates show), answering JSON, or a server-sent-event stream on
 * requests that accept `text/event-stream` or ask for `"stream": true`. A stand-in for api.openai.com and
 * api.anthropic.com, which cannot be reached here; the tests and `npm run demo` use it.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Issued } from './dev-pki.ts';

export interface Received {
  readonly method: string;
  readonly path: string;
  /** [name, value] pairs exactly as received, names lower-cased. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
}

export interface FakeProvider {
  readonly name: string;
  readonly port: number;
  readonly received: Received[];
  /** The body sent back for each request, in order, exactly as written. */
  readonly sent: string[];
  /** All values received for a header, across duplicates. */
  headerValues(request: Received, name: string): string[];
  close(): Promise<void>;
}

export const SSE_EVENTS = Array.from({ length: 20 }, (_, i) => `data: {"id":${i},"delta":"chunk-${i}-${'x'.repeat(100)}"}\n\n`);

/** What the provider answers with (JSON); by default `{provider, ok: true}`. */
export type Responder = (request: Received) => unknown;

/** The server-sent events a streamed answer is made of, each a whole frame ("data: …\n\n"). */
export type Streamer = (request: Received) => readonly string[];

/**
 * Answers shaped as the real APIs' are, usage included, for metering: OpenAI chat
 * completions (JSON; SSE with `stream_options.include_usage`'s final usage chunk) and
 * Anthropic messages (JSON; SSE `message_start` … `message_delta` with usage). `text` is
 * the completion; the numbers are fixed so tests can expect them.
 */
export const FAKE_USAGE = {
  openai: { model: 'gpt-4o-mini-2024-07-18', prompt_tokens: 12, completion_tokens: 5, cached_tokens: 4 },
  anthropic: { model: 'claude-3-5-haiku-20241022', input_tokens: 20, output_tokens: 7, cache_read_input_tokens: 3 },
} as const;

export function usageAnswers(api: 'openai' | 'anthropic', text: string): { respond: Responder; stream: Streamer } {
  const words = text.split(/(?<= )/);
  if (api === 'openai') {
    const u = FAKE_USAGE.openai;
    const usage = {
      prompt_tokens: u.prompt_tokens,
      completion_tokens: u.completion_tokens,
      total_tokens: u.prompt_tokens + u.completion_tokens,
      prompt_tokens_details: { cached_tokens: u.cached_tokens },
    };
    const base = { id: 'chatcmpl-fake1', created: 1_700_000_000, model: u.model, system_fingerprint: 'fp_fake' };
    return {
      respond: () => ({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }], usage }),
      stream: (request) => {
        const withUsage = /"include_usage"\s*:\s*true/.test(request.body);
        const chunk = (choices: unknown[], extra: object = {}) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
        return [
          chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], withUsage ? { usage: null } : {}),
          ...words.map((w) => chunk([{ index: 0, delta: { content: w }, logprobs: null, finish_reason: null }], withUsage ? { usage: null } : {})),
          chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], withUsage ? { usage: null } : {}),
          ...(withUsage ? [chunk([], { usage })] : []),
          'data: [DONE]\n\n',
        ];
      },
    };
  }
  const u = FAKE_USAGE.anthropic;
  const usage = { input_tokens: u.input_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens: u.cache_read_input_tokens, output_tokens: u.output_tokens };
  const message = { id: 'msg_fake1', type: 'message', role: 'assistant', model: u.model };
  const event = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return {
    respond: () => ({ ...message, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage }),
    stream: () => [
      event('message_start', { message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } }),
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      event('ping', {}),
      ...words.map((w) => event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } })),
      event('content_block_stop', { index: 0 }),
      event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: u.output_tokens } }),
      event('message_stop', {}),
    ],
  };
}

export async function startFakeProvider(
  name: string,
  certificate: Pick<Issued, 'cert' | 'key'>,
  respond?: Responder,
  listen: { host: string; port: number } = { host: '127.0.0.1', port: 0 },
  stream?: Streamer,
): Promise<FakeProvider> {
  const received: Received[] = [];
  const sent: string[] = [];
  const server: Server = createServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Array<[string, string]> = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
      const request: Received = { method: req.method ?? '', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString() };
      received.push(request);
      if (req.headers.accept === 'text/event-stream' || /"stream"\s*:\s*true/.test(request.body)) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const events = stream ? stream(request) : [...SSE_EVENTS, 'data: [DONE]\n\n'];
        sent.push(events.join(''));
        let i = 0;
        const timer = setInterval(() => {
          if (i < events.length - 1) res.write(events[i++]);
          else {
            clearInterval(timer);
            res.end(events[i]);
          }
        }, 5);
        return;
      }
      const body = JSON.stringify(respond ? respond(request) : { provider: name, ok: true });
      sent.push(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(listen.port, listen.host, resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    received,
    sent,
    headerValues: (request, header) => request.headers.filter(([n]) => n === header).map(([, v]) => v),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
