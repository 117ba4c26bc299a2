/**
 * The route phase: which destination, and therefore which key, this request is for.
 * The destination comes from Envoy's route (`context_extensions.destination`), never
 * from anything the agent controls (invariant 4); the agent's `:authority` and path
 * must agree with that route or the request is denied.
 */
import { Denial } from '../lib/denial.ts';
import type { Destination, RequestFacts } from '../model/check.ts';

export interface Routed {
  readonly destination: Destination;
  /** The path as the provider sees it: `routePrefix` removed. Policy paths match this. */
  readonly upstreamPath: string;
}

export function resolveDestination(facts: RequestFacts, destinations: ReadonlyMap<string, Destination>): Routed {
  const name = facts.contextExtensions.get('destination');
  if (!name) throw new Denial('destination_missing', 'the Envoy route sets no context_extensions.destination');
  const destination = destinations.get(name);
  if (!destination) throw new Denial('destination_unknown', `the Envoy route names destination "${name}", which is not configured`);

  if (!authorityMatches(facts.authority, destination.authorities)) {
    throw new Denial('authority_mismatch', `:authority is not one of the hosts of destination "${name}"`);
  }
  if (ECHOING_METHODS.has(facts.method)) {
    throw new Denial('method_not_forwarded', `${facts.method} makes a server answer with the request it received, the injected key with it`);
  }
  const problem = pathProblem(facts.path);
  if (problem) throw new Denial('path_not_normalized', problem);

  const prefix = destination.routePrefix;
  if (prefix === '') return { destination, upstreamPath: facts.path };
  if (facts.path !== prefix && !facts.path.startsWith(`${prefix}/`)) {
    throw new Denial('path_outside_route', `path is outside the route prefix "${prefix}" of destination "${name}"`);
  }
  return { destination, upstreamPath: facts.path.slice(prefix.length) || '/' };
}

/**
 * Methods whose answer is the request itself: a server that honours TRACE (Apache httpd
 * does by default) or IIS's TRACK would hand the agent the key keybroker injected. A
 * grant of every method (`methods: ["*"]`) must not include them, so they are refused
 * for every destination, before policy.
 */
const ECHOING_METHODS: ReadonlySet<string> = new Set(['TRACE', 'TRACK']);

/** An entry with a port must match exactly; an entry without one matches the host on any port. */
export function authorityMatches(authority: string, allowed: readonly string[]): boolean {
  const host = authority.replace(/:\d+$/, '');
  return allowed.some((entry) => (entry.includes(':') ? entry === authority : entry === host));
}

const ENCODED_DELIMITER = /%(2f|5c|2e|00)/i;
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Paths that a server might resolve differently from a string match ("..", "//",
 * encoded slashes or dots, backslashes, ";" path parameters) are refused rather than
 * interpreted: policy must match exactly what the upstream will act on. Servlet
 * containers and Spring drop a segment's `;params` before routing, so `/v1/files;x`
 * would be served as `/v1/files` past a deny rule naming it.
 */
export function pathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'path does not start with "/"';
  if (path.includes('\\')) return 'path contains a backslash';
  if (path.includes(';')) return 'path contains a ";" (path parameters)';
  if (ENCODED_DELIMITER.test(path)) return 'path contains an encoded "/", "\\", "." or NUL';
  if (CONTROL.test(path)) return 'path contains a control character';
  if (path.includes('//')) return 'path contains an empty segment ("//")';
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') return 'path contains a "." or ".." segment';
  }
  return undefined;
}
