/**
 * The Check pipeline, wired in this one place:
 *   facts → authenticate → route → authorize → credential → outcome, audited once.
 * Every phase signals "no" by throwing a Denial; anything else thrown is a bug and is
 * also a denial (invariant 3).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Denial } from '../lib/denial.ts';
import { authenticate } from '../identity/authenticate.ts';
import { resolveDestination } from '../route/resolve.ts';
import { evaluate } from '../policy/evaluate.ts';
import { lazyInspection } from '../inspect/inspect.ts';
import { recordBodyFacts } from '../inspect/audit-fields.ts';
import { KeyUnavailableError } from '../credentials/store.ts';
import type { Auditor } from '../audit/auditor.ts';
import type { Runtime } from './runtime.ts';
import type { DecisionRecord, Outcome, RequestFacts } from './types.ts';
import type { Secret } from '../credentials/secret.ts';
import { isPromise, then, type MaybePromise } from '../lib/maybe-async.ts';

export interface CheckDeps {
  /** The runtime in force; read once per request so a reload never splits a decision. */
  readonly runtime: () => Runtime;
  readonly audit: Auditor;
  readonly log: Logger;
}

/** Synchronous when nothing has to wait: a cached or absent token, an in-memory key. */
export type Check = (facts: RequestFacts) => MaybePromise<Outcome>;

export function createCheck(deps: CheckDeps): Check {
  return function check(facts) {
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
    const traceparent = facts.headers.get('traceparent');
    if (traceparent) {
      const tracestate = facts.headers.get('tracestate');
      record.traceContext = tracestate ? { traceparent, tracestate } : { traceparent };
    }
    const finish = (outcome: Outcome): Outcome => {
      record.durationMs = performance.now() - started;
      deps.audit.record(record);
      return outcome;
    };
    const deny = (error: unknown): Outcome => {
      const denial = asDenial(error, deps.log, facts.decisionId);
      record.decision = 'deny';
      record.reason = denial.reason;
      record.status = denial.status;
      record.detail = denial.message;
      return finish({ allow: false, record, denial });
    };
    try {
      const outcome = decide(facts, runtime, record);
      return isPromise(outcome) ? outcome.then(finish, deny) : finish(outcome);
    } catch (error) {
      return deny(error);
    }
  };
}

/** The phases proper; fills `record` as it learns. Throws (or rejects) to deny. */
function decide(facts: RequestFacts, runtime: Runtime, record: DecisionRecord): MaybePromise<Outcome> {
  if (facts.malformed) throw new Denial('request_malformed', facts.malformed);
  return then(authenticate(facts, runtime), ({ principal, person }) => {
    record.identity = principal.id;
    record.proof = principal.proof;
    if (person) {
      record.person = person.sub;
      if (person.email) record.personEmail = person.email;
    }

    const { destination, upstreamPath } = resolveDestination(facts, runtime.destinations);
    record.destination = destination.name;
    record.upstream = destination.upstream;
    record.classification = destination.classification;

    const inspection = destination.api ? lazyInspection(facts, destination.api, upstreamPath) : undefined;
    const result = evaluate(runtime.policy, {
      identity: principal.id,
      destination: destination.name,
      method: facts.method,
      path: upstreamPath,
      person,
      body: inspection?.facts,
    });
    if (inspection?.read) recordBodyFacts(record, inspection.read);
    record.rule = result.rule;
    if (!result.allow) throw new Denial(result.reason, denialDetail(result));

    return then(fetchKey(runtime, destination.keyRef), (secret): Outcome => {
      record.keyId = secret.id;
      record.decision = 'allow';
      record.reason = 'allowed';
      record.status = 200;
      return { allow: true, record, secret, destination };
    });
  });
}

function denialDetail(result: { rule?: string | undefined; detail?: string }): string | undefined {
  if (!result.rule) return undefined;
  return result.detail ? `rule "${result.rule}": ${result.detail}` : `rule "${result.rule}"`;
}

function fetchKey(runtime: Runtime, ref: string): MaybePromise<Secret> {
  const unavailable = (error: unknown): never => {
    if (error instanceof KeyUnavailableError) throw new Denial('key_unavailable', error.message);
    throw error;
  };
  try {
    const secret = runtime.keys.get(ref);
    return isPromise(secret) ? secret.catch(unavailable) : secret;
  } catch (error) {
    return unavailable(error);
  }
}

function asDenial(error: unknown, log: Logger, decisionId: string): Denial {
  if (error instanceof Denial) return error;
  log.error({ decisionId, err: { type: (error as Error)?.name, message: (error as Error)?.message } }, 'check failed; denying');
  return new Denial('internal_error');
}
