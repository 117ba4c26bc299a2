/**
 * What Check would decide for a described request, run through the real pipeline on a
 * given runtime: the CLI's `explain` (on a runtime built from a file) and the admin API's
 * Explain (on the runtime in force) both ask here. The record carries a key id, never a key.
 *
 * Every phase but the limit phase: asking "would this be allowed?" must not take from the
 * identity's real rate limits and budgets (a reservation no usage record would settle),
 * so an explanation never says whether a limit would admit the request (`LIMITS_NOT_CHECKED`).
 */
import { pino } from 'pino';
import { createCheck, PHASES } from './check.ts';
import { wholeJsonBodyHeaders } from '../inspect/read-body.ts';
import type { Runtime } from './runtime.ts';
import type { DecisionRecord, Destination, Divergence } from '../model/check.ts';

/** The pipeline explain runs: Check's phases without the limit phase. */
const EXPLAIN_PHASES = PHASES.filter((step) => step.name !== 'limit');

/** What an explanation says about limits, wherever it is printed. */
export const LIMITS_NOT_CHECKED = 'not checked (explain never takes from rate limits or budgets)';

export interface ExplainQuery {
  readonly identity: string;
  readonly destination: string;
  readonly method: string;
  /**
   * The path as the agent sends it (`/openai/v1/chat/completions`), a full URL, or the
   * path after the route prefix (`/v1/chat/completions`), which gets the prefix added.
   */
  readonly path: string;
  /** `:authority`; by default the URL's host, else the destination's upstream. */
  readonly authority?: string | undefined;
  /** The request body, as Envoy would send it buffered whole. */
  readonly body?: Uint8Array | undefined;
}

/** A decision, and what the policy not enforced would have answered. */
export interface Explanation {
  readonly record: DecisionRecord;
  /**
   * With the shadow rules enforced: `same answer`, or the other answer, as
   * `deny (denied_by_rule, rule r)`; undefined when the policy has no shadow rules.
   */
  readonly shadow: string | undefined;
  /** The same for the candidate policy; undefined when none is configured. */
  readonly candidate: string | undefined;
}

export async function explainDecision(runtime: Runtime, query: ExplainQuery): Promise<Explanation> {
  const record = await decide(runtime, query);
  // The record carries what shadow rules and the candidate would answer only when it differs.
  return { record, shadow: wouldAnswer(runtime.policy.shadow !== undefined, record.shadow), candidate: wouldAnswer(runtime.candidate !== undefined, record.candidate) };
}

function wouldAnswer(configured: boolean, divergence: Divergence | undefined): string | undefined {
  if (!configured) return undefined;
  if (!divergence) return 'same answer';
  return `${divergence.decision} (${divergence.reason}${divergence.rule ? `, rule ${divergence.rule}` : ''})`;
}

async function decide(runtime: Runtime, query: ExplainQuery): Promise<DecisionRecord> {
  const destination = runtime.destinations.get(query.destination);
  const { authority, path } = requestTarget(query, destination);
  let record: DecisionRecord | undefined;
  const check = createCheck({ runtime: () => runtime, audit: { record: (r) => (record = r) }, log: pino({ level: 'silent' }), phases: EXPLAIN_PHASES });
  await check({
    decisionId: 'explain',
    method: query.method.toUpperCase(),
    authority,
    path,
    headers: query.body ? wholeJsonBodyHeaders(query.body) : new Map(),
    ...(query.body ? { body: query.body } : {}),
    sourcePrincipal: query.identity,
    sourceCertificate: '',
    contextExtensions: new Map([['destination', query.destination]]),
  });
  return record as DecisionRecord;
}

function requestTarget(query: ExplainQuery, destination: Destination | undefined): { authority: string; path: string } {
  let path = query.path;
  let authority = query.authority;
  if (/^https?:\/\//i.test(path)) {
    const url = new URL(path);
    path = url.pathname;
    authority ??= url.host;
  }
  path = path.replace(/[?#].*$/, '');
  const prefix = destination?.routePrefix ?? '';
  if (prefix !== '' && path !== prefix && !path.startsWith(`${prefix}/`)) path = prefix + path;
  return { authority: (authority ?? destination?.upstream ?? '').toLowerCase(), path };
}
