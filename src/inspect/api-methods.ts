/**
 * The HTTP methods each API family's requests use. OpenAI and Anthropic: GET to read
 * (models, files, batches), POST to create, DELETE to remove; MCP over streamable HTTP:
 * POST for messages, GET for the server's event stream, DELETE to end a session. A rule
 * naming another method for such a destination never sees a request (`keybroker lint`).
 */
import type { Api } from '../model/body.ts';

export const API_METHODS: Readonly<Record<Api, ReadonlySet<string>>> = {
  openai: new Set(['GET', 'POST', 'DELETE']),
  anthropic: new Set(['GET', 'POST', 'DELETE']),
  mcp: new Set(['GET', 'POST', 'DELETE']),
};

/** Methods whose requests carry no body: a rule reading the body never holds for them. */
export const BODYLESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
