/**
 * What Check would decide for a described request, run through the real pipeline on a
 * given runtime: the CLI's `explain` (on a runtime built from a file) and the admin API's
 * Explain (on the runtime in force) both ask here. The record carries a key id, never a key.
 */
import { pino } from 'pino';
import { createCheck } from './check.ts';
import type { Runtime } from './runtime.ts';
import type { DecisionRecord, Destination } from '../model/check.ts';

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

export async function explainDecision(runtime: Runtime, query: ExplainQuery): Promise<DecisionRecord> {
  const destination = runtime.destinations.get(query.destination);
  const { authority, path } = requestTarget(query, destination);
  let record: DecisionRecord | undefined;
  const check = createCheck({ runtime: () => runtime, audit: { record: (r) => (record = r) }, log: pino({ level: 'silent' }) });
  await check({
    decisionId: 'explain',
    method: query.method.toUpperCase(),
    authority,
    path,
    // As Envoy sends a body it buffered whole: typed JSON, its length declared.
    headers: query.body
      ? new Map([
          ['content-type', 'application/json'],
          ['content-length', String(query.body.length)],
        ])
      : new Map(),
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
