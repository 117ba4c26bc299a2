/**
 * The inspect phase: the request body read once, and only when asked — a destination
 * whose rules never look at the body never has it parsed. The answer (facts or the
 * `body_unreadable` denial) is kept, so every rule that asks gets the same one.
 */
import type { RequestFacts } from '../pipeline/types.ts';
import { anthropicFacts } from './anthropic.ts';
import { mcpFacts } from './mcp.ts';
import { openaiFacts } from './openai.ts';
import { readJsonBody } from './read-body.ts';
import type { Api, BodyFacts } from './types.ts';

export interface Inspection {
  /** The body's facts; throws the `body_unreadable` Denial when it cannot be read. */
  facts(): BodyFacts;
  /** The facts if something already asked for them (for the audit record). */
  readonly read: BodyFacts | undefined;
}

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

export function lazyInspection(request: Pick<RequestFacts, 'body' | 'headers'>, api: Api, upstreamPath: string): Inspection {
  let facts: BodyFacts | undefined;
  let failure: unknown;
  return {
    facts() {
      if (facts) return facts;
      if (failure) throw failure;
      try {
        return (facts = inspectBody(request, api, upstreamPath));
      } catch (error) {
        failure = error;
        throw error;
      }
    },
    get read() {
      return facts;
    },
  };
}
