/**
 * Renders the gateway pod's Envoy configuration from the shipped SPIRE template
 * (envoy/egress-gateway-spire.yaml) with the paths and ports of deploy/kubernetes/base:
 *
 *   node deploy/kubernetes/render-envoy.ts [TRUST_DOMAIN] > deploy/kubernetes/base/envoy.yaml
 *
 * Rendered rather than checked in, so the deployment never drifts from the template the
 * tests run.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderTemplate } from '../../envoy/render.ts';
import { containerValues, providerValues } from '../../envoy/values.ts';

export function kubernetesEnvoyValues(trustDomain: string): Record<string, string | number> {
  return {
    ...containerValues(trustDomain),
    ENVOY_SPIFFE_ID: `spiffe://${trustDomain}/ns/egress-gateway/sa/egress-gateway`,
    SPIRE_AGENT_SOCKET: '/run/spire/sockets/agent.sock',
    // The real providers, by DNS, verified against the image's system CAs. The MCP server
    // is an example: replace mcp.example.org with yours.
    ...providerValues('/etc/ssl/certs/ca-certificates.crt', { discovery: 'LOGICAL_DNS', ports: { openai: 443, anthropic: 443, mcp: 443 } }),
  };
}

export const SPIRE_TEMPLATE = fileURLToPath(new URL('../../envoy/egress-gateway-spire.yaml', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(renderTemplate(readFileSync(SPIRE_TEMPLATE, 'utf8'), kubernetesEnvoyValues(process.argv[2] ?? 'example.org')));
}
