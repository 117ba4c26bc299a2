/**
 * What a Check phase is: a named step that reads the context the earlier phases built,
 * adds what it learns (to the context and to the decision record), and denies by
 * throwing a Denial. Phases know nothing of gRPC, Envoy or each other; the pipeline
 * (`pipeline/check.ts`) lists them in order and is the only module that knows them all.
 */
import type { Logger } from 'pino';
import type { MaybePromise } from '../lib/maybe-async.ts';
import type { Config } from '../config/schema.ts';
import type { Credential, DecisionRecord, Injected, Destination, Person, PolicyDecision, Principal, RequestFacts, ResponseHeader } from './check.ts';
import type { LazyBody } from './body.ts';

/**
 * One Check as it is being decided. Fields are filled in phase order; a phase may rely
 * on every field an earlier phase sets (`need()` says so, and turns a wiring mistake
 * into a denial rather than a crash).
 */
export interface CheckContext {
  readonly facts: RequestFacts;
  /** The audit record; every phase adds the fields it is the source of. */
  readonly record: DecisionRecord;
  /**
   * `performance.now()` by which the Check must be answered (Infinity: unbounded). The
   * pipeline enforces it; a phase that waits on something may end its own wait a little
   * earlier, to deny with the reason that names the cause.
   */
  readonly answerBy: number;
  /** authenticate */
  principal: Principal | undefined;
  person: Person | undefined;
  /** route */
  destination: Destination | undefined;
  /** The path as the upstream sees it (route prefix removed): what policy paths match. */
  upstreamPath: string | undefined;
  /** inspect: the body's facts, read on first use; absent when the destination declares no api. */
  body: LazyBody | undefined;
  /** authorize: set only when it allows (a denial ends the Check). */
  policy: PolicyDecision | undefined;
  /** credential */
  secret: Credential | undefined;
  /** What the key puts on the upstream request. */
  injected: Injected | undefined;
  /** Headers for the agent's response on allow; a phase appends with `addResponseHeader`. */
  responseHeaders: ResponseHeader[] | undefined;
  /**
   * What to give back if the Check ends in a denial after a phase took something (a
   * limit's reservation, when the credential phase then denies): `onDenied` adds, the
   * pipeline runs each once (`runDenied`).
   */
  undo: Array<() => void> | undefined;
  /** Set by the pipeline once the Check is denied: what is taken after that is given back at once. */
  denied: boolean;
}

/**
 * A phase. `Settings` is whatever the phase needs from the configuration in force
 * (compiled policy, key store, …); the pipeline hands it over per Check from the
 * runtime, so a reload never splits a decision.
 *
 * `run` returns nothing on the fast path: it is synchronous unless it has to wait
 * (a token to verify, a remote key, a shared counter), because each await costs a turn
 * of the event loop on the benchmarked hot path.
 */
export interface Phase<Settings> {
  /** As listed in pipeline/check.ts; used in logs and docs. */
  readonly name: string;
  run(ctx: CheckContext, settings: Settings): MaybePromise<void>;
}

/**
 * A phase with state of its own built from the configuration (a limit store, a parsed
 * body schema, …). The runtime prepares it at start and on every reload, before the new
 * configuration takes effect: throwing rejects the configuration whole (invariant 8).
 * `previous` is this phase's state in the configuration being replaced, so what must
 * survive a reload (counters, connections) can be carried over by returning it.
 */
export interface StatefulPhase<State> extends Phase<State> {
  prepare(config: Config, previous: State | undefined, log?: Logger): State;
  /** Releases a state no runtime uses any more (never one carried over into the next). */
  close?(state: State): void;
}

export function newContext(facts: RequestFacts, record: DecisionRecord, answerBy = Infinity): CheckContext {
  return {
    facts,
    record,
    answerBy,
    principal: undefined,
    person: undefined,
    destination: undefined,
    upstreamPath: undefined,
    body: undefined,
    policy: undefined,
    secret: undefined,
    injected: undefined,
    responseHeaders: undefined,
    undo: undefined,
    denied: false,
  };
}

/**
 * Registers how to give back what a phase took, should the Check be denied after all;
 * run at once when it already is (a reservation that arrived after the deadline's denial).
 */
export function onDenied(ctx: CheckContext, undo: () => void): void {
  if (ctx.denied) undo();
  else (ctx.undo ??= []).push(undo);
}

/** The pipeline's side of `onDenied`: the Check is denied; give back what was taken. */
export function runDenied(ctx: CheckContext): void {
  ctx.denied = true;
  const undo = ctx.undo;
  ctx.undo = undefined;
  if (!undo) return;
  for (const fn of undo) {
    try {
      fn();
    } catch {
      // Not given back: the error is on the side of counting too much, never of allowing.
    }
  }
}

export function addResponseHeader(ctx: CheckContext, key: string, value: string): void {
  (ctx.responseHeaders ??= []).push({ key, value });
}

/** Adds a fact to the decision record: a span attribute and a decision-log field. */
export function addRecordAttribute(ctx: CheckContext, name: string, value: string | number | boolean): void {
  (ctx.record.attributes ??= {})[name] = value;
}

/** A value an earlier phase must have set; its absence is a bug in the phase list. */
export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new PhaseOrderError(what);
  return value;
}

export class PhaseOrderError extends Error {
  override readonly name = 'PhaseOrderError';
  readonly code = 'ERR_PHASE_ORDER';

  constructor(what: string) {
    super(`${what} is not known yet: a phase runs before the phase that provides it`);
  }
}
