/**
 * The Check pipeline, wired in this one place. The phases, in order:
 *
 *   authenticate → route → inspect → authorize → limit → credential
 *
 * then the outcome, audited once. Every phase signals "no" by throwing (or rejecting
 * with) a Denial; anything else thrown is a bug and is also a denial (invariant 3).
 * To add a phase: write it in its own folder against `model/phase.ts`, put it in
 * PHASES below, and give it its config sub-schema (docs/pipeline.md).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Denial } from '../lib/denial.ts';
import { isPromise, type MaybePromise } from '../lib/maybe-async.ts';
import type { Auditor } from '../audit/auditor.ts';
import type { CallContext, DecisionRecord, Outcome, RequestFacts } from '../model/check.ts';
import { need, newContext, runDenied, type CheckContext, type Phase, type StatefulPhase } from '../model/phase.ts';
import type { Config } from '../config/schema.ts';
import { authenticatePhase } from '../identity/phase.ts';
import { routePhase } from '../route/phase.ts';
import { inspectPhase } from '../inspect/phase.ts';
import { authorizePhase } from '../policy/phase.ts';
import { limitPhase } from '../limit/phase.ts';
import { credentialPhase } from '../credentials/phase.ts';
import type { Runtime } from './runtime-types.ts';

/** A phase bound to where its settings live in the runtime in force. */
export interface Step {
  readonly name: string;
  run(ctx: CheckContext, runtime: Runtime): MaybePromise<void>;
  /** For a phase with state of its own: how the runtime builds and releases it. */
  readonly state?: {
    prepare(config: Config, previous: unknown, log?: Logger): unknown;
    close(state: unknown): void;
  };
}

/** A phase whose settings are one of the runtime's parts (policy, destinations, keys). */
function step<S>(phase: Phase<S>, settings: (runtime: Runtime) => S): Step {
  return { name: phase.name, run: (ctx, runtime) => phase.run(ctx, settings(runtime)) };
}

/** A phase that builds its own state from the configuration; the runtime keeps it by name. */
export function stateful<S>(phase: StatefulPhase<S>): Step {
  return {
    name: phase.name,
    run: (ctx, runtime) => phase.run(ctx, runtime.phaseStates.get(phase.name) as S),
    state: {
      prepare: (config, previous, log) => phase.prepare(config, previous as S | undefined, log),
      close: (state) => phase.close?.(state as S),
    },
  };
}

export const PHASES: readonly Step[] = [
  step(authenticatePhase, (runtime) => runtime),
  step(routePhase, (runtime) => runtime.destinations),
  step(inspectPhase, () => undefined),
  step(authorizePhase, (runtime) => runtime),
  stateful(limitPhase),
  step(credentialPhase, (runtime) => runtime.credentials),
];

export interface CheckDeps {
  /** The runtime in force; read once per request so a reload never splits a decision. */
  readonly runtime: () => Runtime;
  readonly audit: Auditor;
  readonly log: Logger;
  /** The phases to run (tests); default PHASES. */
  readonly phases?: readonly Step[];
}

/**
 * Synchronous when nothing has to wait: a cached or absent token, an in-memory key.
 * `call` bounds it (invariant 10): an answer not ready by `call.answerBy`, or a call the
 * caller cancels, is a recorded `deadline_exceeded` / `cancelled` denial — never an allow
 * the audit believes and Envoy dropped.
 */
export type Check = (facts: RequestFacts, call?: CallContext) => MaybePromise<Outcome>;

const UNBOUNDED: CallContext = { answerBy: Infinity };

export function createCheck(deps: CheckDeps): Check {
  const phases = deps.phases ?? PHASES;
  return function check(facts, call = UNBOUNDED) {
    const started = performance.now();
    const runtime = deps.runtime();
    const record: DecisionRecord = {
      decisionId: facts.decisionId,
      decision: 'deny',
      reason: 'internal_error',
      status: 500,
      method: facts.method,
      authority: facts.authority,
      path: facts.path,
      policyVersion: runtime.policy.version,
      durationMs: 0,
    };
    if (call.traceContext) record.traceContext = call.traceContext;
    const traceparent = facts.headers.get('traceparent');
    if (traceparent) {
      const tracestate = facts.headers.get('tracestate');
      record.callerTraceContext = tracestate ? { traceparent, tracestate } : { traceparent };
    }
    const ctx = newContext(facts, record, call.answerBy);
    let ran: MaybePromise<void>;
    try {
      if (facts.malformed) throw new Denial('request_malformed', facts.malformed);
      ran = runPhases(phases, 0, ctx, runtime);
      if (!isPromise(ran)) return allow(deps, ctx, runtime, call, started);
    } catch (error) {
      return deny(deps, ctx, runtime, started, error);
    }
    // Closures only for a Check that waits; the synchronous path allocates none.
    return bounded(ran, call, started).then(
      () => allow(deps, ctx, runtime, call, started),
      (error: unknown) => deny(deps, ctx, runtime, started, error),
    );
  };
}

/** Every phase passed; ready too late to reach Envoy in time, it is a denial: Envoy has answered on its own, so must the audit. */
function allow(deps: CheckDeps, ctx: CheckContext, runtime: Runtime, call: CallContext, started: number): Outcome {
  if (performance.now() > call.answerBy)
    return deny(deps, ctx, runtime, started, new Denial('deadline_exceeded', `the answer was ready ${Math.round(performance.now() - started)} ms after the Check began, past its deadline`));
  return finish(deps, allowed(ctx), started);
}

function deny(deps: CheckDeps, ctx: CheckContext, runtime: Runtime, started: number, error: unknown): Outcome {
  runDenied(ctx);
  const { facts, record } = ctx;
  const denial = asDenial(error, deps.log, facts.decisionId);
  // Past the bound, phases still running may write to `record`: the audit gets its own.
  const denied = denial.reason === 'deadline_exceeded' || denial.reason === 'cancelled' ? { ...record } : record;
  denied.decision = 'deny';
  denied.reason = denial.reason;
  denied.status = denial.status;
  denied.detail = denial.message;
  // The route's destination, even when the denial came before routing: its SDK reads the body.
  const shape = runtime.destinations.get(facts.contextExtensions.get('destination') ?? '')?.denialShape;
  return finish(deps, { allow: false, record: denied, denial, ...(shape ? { shape } : {}) }, started);
}

/** The one audit record of the decision. */
function finish(deps: CheckDeps, outcome: Outcome, started: number): Outcome {
  outcome.record.durationMs = performance.now() - started;
  deps.audit.record(outcome.record);
  return outcome;
}

/**
 * `ran`, or a denial when the call's deadline passes or the caller cancels first. What
 * was waited on goes on in the background (a shared key read, a bundle refresh), bounded
 * by its own timeout; this Check no longer waits for it.
 */
function bounded(ran: Promise<void>, call: CallContext, started: number): Promise<void> {
  const left = call.answerBy - performance.now();
  if (left === Infinity && !call.onCancel) return ran;
  return new Promise<void>((resolve, reject) => {
    const timer =
      left === Infinity
        ? undefined
        : setTimeout(() => reject(new Denial('deadline_exceeded', `not decided within ${Math.round(call.answerBy - started)} ms, the Check's deadline`)), Math.max(0, left));
    call.onCancel?.(() => reject(new Denial('cancelled', 'the caller cancelled the Check before it was decided')));
    ran.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

/**
 * Runs the phases from `index` on, synchronously until one has to wait. This loop is
 * the one place that sees every phase boundary (where a per-Check deadline would be
 * checked).
 */
function runPhases(phases: readonly Step[], index: number, ctx: CheckContext, runtime: Runtime): MaybePromise<void> {
  for (let i = index; i < phases.length; i++) {
    const ran = (phases[i] as Step).run(ctx, runtime);
    if (isPromise(ran)) return ran.then(() => runPhases(phases, i + 1, ctx, runtime));
  }
  return undefined;
}

/** Every phase passed: the allowed answer, which needs a destination and its key. */
function allowed(ctx: CheckContext): Outcome {
  const destination = need(ctx.destination, 'the destination');
  const secret = need(ctx.secret, 'the key');
  const injected = need(ctx.injected, 'the injected credential');
  const record = ctx.record;
  record.decision = 'allow';
  record.reason = 'allowed';
  record.status = 200;
  return ctx.responseHeaders ? { allow: true, record, secret, injected, destination, responseHeaders: ctx.responseHeaders } : { allow: true, record, secret, injected, destination };
}

function asDenial(error: unknown, log: Logger, decisionId: string): Denial {
  if (error instanceof Denial) return error;
  log.error({ decisionId, err: { type: (error as Error)?.name, message: (error as Error)?.message } }, 'check failed; denying');
  return new Denial('internal_error');
}
