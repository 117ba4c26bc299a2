/**
 * The inspect phase: the request body read once, and only when asked — a destination
 * whose rules never look at the body never has it parsed. The answer (facts or the
 * `body_unreadable` denial) is kept, so every rule that asks gets the same one.
 */
import type { DecisionRecord, RequestFacts } from '../model/check.ts';
import { recordBodyFacts } from './audit-fields.ts';
import { anthropicFacts } from './anthropic.ts';
import { mcpFacts } from './mcp.ts';
import { openaiFacts } from './openai.ts';
import { readJsonBody } from './read-body.ts';
import type { Api, BodyFacts, LazyBody } from '../model/body.ts';

type BodyRequest = Pick<RequestFacts, 'body' | 'headers'>;

export function inspectBody(request: BodyRequest, api: Api, upstreamPath: string): BodyFacts {
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

/**
 * The body of one Check, inspected when something first asks; `record` (the decision's
 * audit record) then gets the facts it keeps. One object per Check rather than closures:
 * every inspected Check makes one.
 */
export class Inspection implements LazyBody {
  readonly #request: BodyRequest;
  readonly #api: Api;
  readonly #upstreamPath: string;
  readonly #record: DecisionRecord | undefined;
  #facts: BodyFacts | undefined;
  #failure: unknown;

  constructor(request: BodyRequest, api: Api, upstreamPath: string, record?: DecisionRecord) {
    this.#request = request;
    this.#api = api;
    this.#upstreamPath = upstreamPath;
    this.#record = record;
  }

  facts(): BodyFacts {
    if (this.#facts) return this.#facts;
    if (this.#failure) throw this.#failure;
    try {
      this.#facts = inspectBody(this.#request, this.#api, this.#upstreamPath);
    } catch (error) {
      this.#failure = error;
      throw error;
    }
    if (this.#record) recordBodyFacts(this.#record, this.#facts);
    return this.#facts;
  }

  get read(): BodyFacts | undefined {
    return this.#facts;
  }
}
