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

export function kubernetesEnvoyValues(trustDomain: string): Record<string, string | number> {
  return {
    ADMIN_PORT: 9901,
    LISTEN_ADDRESS: '0.0.0.0',
    LISTEN_PORT: 10000,
    TOKEN_LISTEN_PORT: 10001,
    ACCESS_LOG: '/dev/stdout',
    TRUST_DOMAIN: trustDomain,
    ENVOY_SPIFFE_ID: `spiffe://${trustDomain}/ns/egress-gateway/sa/egress-gateway`,
    SPIRE_AGENT_SOCKET: '/run/spire/sockets/agent.sock',
    KEYBROKER_SOCKET: '/run/keybroker/authz.sock',
    PROVIDER_CA: '/etc/ssl/certs/ca-certificates.crt',
    OPENAI_HOST: 'api.openai.com',
    OPENAI_DISCOVERY: 'LOGICAL_DNS',
    OPENAI_ADDRESS: 'api.openai.com',
    OPENAI_PORT: 443,
    ANTHROPIC_HOST: 'api.anthropic.com',
    ANTHROPIC_DISCOVERY: 'LOGICAL_DNS',
    ANTHROPIC_ADDRESS: 'api.anthropic.com',
    ANTHROPIC_PORT: 443,
    // An MCP tool server the gateway fronts; replace with yours.
    MCP_HOST: 'mcp.example.org',
    MCP_DISCOVERY: 'LOGICAL_DNS',
    MCP_ADDRESS: 'mcp.example.org',
    MCP_PORT: 443,
  };
}

export const SPIRE_TEMPLATE = fileURLToPath(new URL('../../envoy/egress-gateway-spire.yaml', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(renderTemplate(readFileSync(SPIRE_TEMPLATE, 'utf8'), kubernetesEnvoyValues(process.argv[2] ?? 'example.org')));
}
