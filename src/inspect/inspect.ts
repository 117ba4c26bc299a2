/**
 * The inspect phase: the request body read once, and only when asked — a destination
 * whose rules never look at the body never has it parsed. The answer (facts or the
 * `body_unreadable` denial) is kept, so every rule that asks gets the same one.
 */
import type { RequestFacts } from '../model/check.ts';
import { anthropicFacts } from './anthropic.ts';
import { mcpFacts } from './mcp.ts';
import { openaiFacts } from './openai.ts';
import { readJsonBody } from './read-body.ts';
import type { Api, BodyFacts, LazyBody } from '../model/body.ts';

export type Inspection = LazyBody;

export function inspectBody(request: Pick<RequestFacts, 'body' | 'headers'>, api: Api, upstreamPath: string): BodyFacts {
  const json = readJsonBody(request);
  switch (api) {
    case 'openai':
      return openaiFacts(json, upstreamPath);
    case 'anthropic':
      return anthropicFacts(json, upstreamPath);
    case 'mcp':
      return mcpFacts(json);
  }
}

/** `onRead` sees the facts once, when something first asks for them (the audit record). */
export function lazyInspection(request: Pick<RequestFacts, 'body' | 'headers'>, api: Api, upstreamPath: string, onRead?: (facts: BodyFacts) => void): Inspection {
  let facts: BodyFacts | undefined;
  let failure: unknown;
  return {
    facts() {
      if (facts) return facts;
      if (failure) throw failure;
      try {
        facts = inspectBody(request, api, upstreamPath);
      } catch (error) {
        failure = error;
        throw error;
      }
      onRead?.(facts);
      return facts;
    },
    get read() {
      return facts;
    },
  };
}
