/**
 * Headers through which an agent may present a credential of its own. All are removed
 * from every allowed request (invariant 5) — except the one keybroker injects into,
 * because Envoy applies removals after sets and would strip the injected key.
 */
export const AGENT_CREDENTIAL_HEADERS = [
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
] as const;

export function headersToStrip(injectedHeader: string, extra: readonly string[] = []): string[] {
  const all = new Set<string>([...AGENT_CREDENTIAL_HEADERS, ...extra]);
  all.delete(injectedHeader);
  return [...all];
}
