/**
 * One HTTP exchange as Envoy's ext_proc filter reports it — request headers, response
 * headers, the response body in chunks, maybe trailers — turned into one usage record.
 * No gRPC here: the server feeds it ProcessingEvents (`envoy/processing-request.ts`) and
 * ends the stream when it says so.
 *
 * The join to the decision comes only from what Envoy forwards with the first headers it
 * sends: keybroker's own ext_authz metadata (decision id, identity, destination…),
 * cross-checked against the request's `x-request-id` — the header itself when the request
 * headers are sent (the shipped configs), else the `request.id` attribute with the
 * response headers (a config that skips them: one message fewer per response, but a
 * request abandoned before its response then leaves no record). Nothing is looked up in this
 * process's memory, so any worker or replica can meter any response. A stream that cannot
 * be joined is dropped with a cause, never recorded against a guessed identity.
 *
 * Memory per exchange: the join (a few identifiers) and the meter, which reads the body
 * chunk by chunk in bounded memory; chunks are not kept.
 */
import type { ForwardedDecision, ProcessingEvent, ResponseHeadFacts } from '../model/processing.ts';
import type { TokenCounts, UsageApi, UsageMeter, UsageReading } from './types.ts';
import { usageRecord, type Cost, type UsageJoin, type UsageSink } from './record.ts';

/** Why a stream was dropped without a usage record. */
export type DropCause =
  /** Envoy forwarded no readable keybroker decision (metadata_options missing, or not a Check's). */
  | 'no_decision'
  /** The forwarded decision id is not the request's x-request-id. */
  | 'id_mismatch'
  /** The decision denied: nothing reached the provider. */
  | 'not_allowed'
  /** The destination has no `api: openai | anthropic` (or is no longer configured). */
  | 'not_metered'
  /** Parts in an order Envoy does not send (a response before its request). */
  | 'out_of_order'
  /** A message that is not a ProcessingRequest Envoy sends. */
  | 'malformed';

export interface ExchangeDeps {
  /** The destination's API in the configuration in force; undefined when it is not metered. */
  readonly apiOf: (destination: string) => UsageApi | undefined;
  readonly meter: (api: UsageApi, head: ResponseHeadFacts) => UsageMeter;
  /** The cost of `tokens` of `model` at `destination`; undefined when its price is unknown. */
  readonly cost: (destination: string, model: string | undefined, tokens: TokenCounts) => Cost | undefined;
  readonly record: UsageSink;
  readonly now?: () => number;
}

/** What the stream does next: read on, end (recorded), or drop (with why). */
export type Next = 'more' | 'done' | { readonly drop: DropCause; readonly detail?: string };

export class Exchange {
  readonly #deps: ExchangeDeps;
  #join: UsageJoin | undefined;
  #meter: UsageMeter | undefined;
  #over = false;

  constructor(deps: ExchangeDeps) {
    this.#deps = deps;
  }

  handle(event: ProcessingEvent): Next {
    if (this.#over) return 'done';
    switch (event.kind) {
      case 'malformed':
        return this.#drop('malformed', event.why);
      case 'ignored':
        return 'more';
      case 'request_headers':
        if (this.#join) return this.#drop('out_of_order', 'request headers twice');
        return this.#joinDecision(event.decision, event.requestId);
      case 'response_headers': {
        // A denial is Envoy's own local reply: nothing went upstream, nothing to meter.
        if (!this.#join && event.decision?.decision === 'deny') return this.#drop('not_allowed');
        // A config that skips the request headers: the decision and the request's id
        // come with the response headers (metadata and `response_attributes`) instead.
        if (!this.#join && !this.#meter && event.requestId !== undefined) {
          const joined = this.#joinDecision(event.decision, event.requestId, event.requestTime);
          if (joined !== 'more') return joined;
        }
        if (!this.#join || this.#meter) return this.#drop('out_of_order', 'response headers before the request headers, or twice');
        this.#meter = this.#deps.meter(this.#join.api, event.head);
        // Known from the headers (an error status, a compressed or other body): the record
        // is what it will be at the end, and the rest of the response is not read.
        return event.endOfStream || this.#meter.decided ? this.#finish(true) : 'more';
      }
      case 'response_body':
        if (!this.#meter) return this.#drop('out_of_order', 'a response body before the response headers');
        this.#meter.write(event.chunk);
        return event.endOfStream ? this.#finish(true) : 'more';
      case 'response_trailers':
        if (!this.#meter) return this.#drop('out_of_order', 'response trailers before the response headers');
        return this.#finish(true);
    }
  }

  /**
   * The stream ended (Envoy closed it, or it broke) before the response did: a joined
   * exchange is recorded as cut — the request went out, its use is not known.
   */
  end(): void {
    if (this.#over || !this.#join) {
      this.#over = true;
      return;
    }
    this.#finish(false);
  }

  #joinDecision(decision: ForwardedDecision | undefined, requestId: string | undefined, requestTime?: number): Next {
    if (!decision) return this.#drop('no_decision');
    if (requestId !== decision.decisionId) return this.#drop('id_mismatch');
    if (decision.decision !== 'allow') return this.#drop('not_allowed');
    const { identity, destination } = decision;
    if (identity === undefined || destination === undefined) return this.#drop('no_decision', 'the forwarded decision names no identity or destination');
    const api = this.#deps.apiOf(destination);
    if (!api) return this.#drop('not_metered');
    this.#join = { decision: { ...decision, identity, destination }, api, startTime: requestTime ?? this.#now() };
    return 'more';
  }

  #finish(complete: boolean): Next {
    this.#over = true;
    const join = this.#join as UsageJoin;
    const reading: UsageReading = this.#meter ? this.#meter.end(complete) : { metered: false, cause: 'cut' };
    const cost = reading.metered ? this.#deps.cost(join.decision.destination, reading.model, reading.tokens) : undefined;
    this.#deps.record(usageRecord(join, reading, cost, this.#now()));
    return 'done';
  }

  #drop(cause: DropCause, detail?: string): Next {
    this.#over = true;
    return detail === undefined ? { drop: cause } : { drop: cause, detail };
  }

  #now(): number {
    return (this.#deps.now ?? Date.now)();
  }
}
