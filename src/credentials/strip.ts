/**
 * Headers through which an agent may present a credential of its own. All are removed
 * from every allowed request (invariant 5) — except those keybroker injects into,
 * because Envoy applies removals after sets and would strip the injected key. Headers
 * keybroker injects are set with append=false, so the agent's copy of those is replaced.
 */
export const AGENT_CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'x-goog-api-key'] as const;

/**
 * Headers by which some APIs let a request name another method than its own: a POST-only
 * grant would become a DELETE at a provider that honours one. Removed from every allowed
 * request by default (`removeHeaders`), so the provider acts on the method the grant saw.
 */
export const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const;

export function headersToStrip(injectedHeaders: readonly string[], extra: readonly string[] = []): string[] {
  const all = new Set<string>([...AGENT_CREDENTIAL_HEADERS, ...extra]);
  for (const header of injectedHeaders) all.delete(header);
  return [...all];
}
