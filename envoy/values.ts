/**
 * Values for the gateway templates' placeholders that several renderings share: where the
 * providers are and how Envoy finds them (tests, the demo, compose, Kubernetes), and the
 * in-container listeners and paths (compose, Kubernetes). Each rendering adds its own
 * certificates and identities; envoy/render.ts refuses a placeholder left without a value.
 */

/** How Envoy resolves a provider cluster's address (Envoy's cluster `type`). */
export type Discovery = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS';

export interface ProviderLocation {
  readonly discovery: Discovery;
  /** Where every provider is reached (a fake provider); by default each provider's own host. */
  readonly address?: string;
  readonly ports: { readonly openai: number; readonly anthropic: number; readonly mcp: number };
}

/** The names Envoy verifies the providers' certificates for (the MCP one is an example). */
const PROVIDER_HOSTS = { OPENAI: 'api.openai.com', ANTHROPIC: 'api.anthropic.com', MCP: 'mcp.example.org' } as const;

/** The provider clusters: each one's host (SNI and certificate name), address, port, and the CA that verifies them. */
export function providerValues(ca: string, where: ProviderLocation): Record<string, string | number> {
  const values: Record<string, string | number> = { PROVIDER_CA: ca };
  for (const [name, host] of Object.entries(PROVIDER_HOSTS)) {
    values[`${name}_HOST`] = host;
    values[`${name}_DISCOVERY`] = where.discovery;
    values[`${name}_ADDRESS`] = where.address ?? host;
    values[`${name}_PORT`] = where.ports[name.toLowerCase() as keyof ProviderLocation['ports']];
  }
  return values;
}

/** Envoy in a container beside keybroker: the standard ports, logs to stdout, Check over the shared socket. */
export function containerValues(trustDomain: string): Record<string, string | number> {
  return {
    ADMIN_PORT: 9901,
    LISTEN_ADDRESS: '0.0.0.0',
    LISTEN_PORT: 10000,
    TOKEN_LISTEN_PORT: 10001,
    ACCESS_LOG: '/dev/stdout',
    TRUST_DOMAIN: trustDomain,
    KEYBROKER_SOCKET: '/run/keybroker/authz.sock',
  };
}
