/**
 * docker-compose's one-shot setup: the development PKI (trust-domain CA, Envoy's serving
 * certificate, agent SVIDs), a CA and certificate for the fake provider, and the Envoy
 * configuration rendered from the shipped template. Runs as root in its container, so it
 * can hand Envoy (uid 101) its private key and nobody else.
 *
 *   node examples/compose/setup.ts PKI_DIR ENVOY_DIR
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCa, createDemoPki } from '../../scripts/dev-pki.ts';
import { renderTemplate } from '../../envoy/render.ts';

const ENVOY_UID = 101;
/** The group keybroker's socket belongs to; Envoy runs with it (ENVOY_GID). */
const SOCKET_GID = 1337;

export function composeEnvoyValues(pki: string): Record<string, string | number> {
  return {
    ADMIN_PORT: 9901,
    LISTEN_ADDRESS: '0.0.0.0',
    LISTEN_PORT: 10000,
    TOKEN_LISTEN_PORT: 10001,
    ACCESS_LOG: '/dev/stdout',
    GATEWAY_CERT: join(pki, 'gateway.crt'),
    GATEWAY_KEY: join(pki, 'gateway.key'),
    AGENT_CA: join(pki, 'demo.local-ca.crt'),
    TRUST_DOMAIN: 'demo.local',
    KEYBROKER_SOCKET: '/run/keybroker/authz.sock',
    // The fake provider answers for api.openai.com and api.anthropic.com: Envoy still
    // verifies TLS against those names, under the providers CA made here.
    PROVIDER_CA: join(pki, 'providers-ca.crt'),
    OPENAI_HOST: 'api.openai.com',
    OPENAI_DISCOVERY: 'STRICT_DNS',
    OPENAI_ADDRESS: 'fake-provider',
    OPENAI_PORT: 8443,
    ANTHROPIC_HOST: 'api.anthropic.com',
    ANTHROPIC_DISCOVERY: 'STRICT_DNS',
    ANTHROPIC_ADDRESS: 'fake-provider',
    ANTHROPIC_PORT: 8444,
    MCP_HOST: 'mcp.example.org',
    MCP_DISCOVERY: 'STRICT_DNS',
    MCP_ADDRESS: 'fake-provider',
    MCP_PORT: 8445,
  };
}

export function setup(pki: string, envoyDir: string, options: { chown: boolean } = { chown: process.getuid?.() === 0 }): void {
  createDemoPki(pki, 'demo.local');
  const providers = createCa('providers', pki);
  providers.issue('api.openai.com', { dns: ['api.openai.com'] });
  providers.issue('api.anthropic.com', { dns: ['api.anthropic.com'] });
  providers.issue('mcp.example.org', { dns: ['mcp.example.org'] });
  for (const file of ['gateway.key']) {
    if (options.chown) chownSync(join(pki, file), ENVOY_UID, SOCKET_GID);
    chmodSync(join(pki, file), 0o400);
  }
  mkdirSync(envoyDir, { recursive: true });
  const template = fileURLToPath(new URL('../../envoy/egress-gateway.yaml', import.meta.url));
  writeFileSync(join(envoyDir, 'envoy.yaml'), renderTemplate(readFileSync(template, 'utf8'), composeEnvoyValues(pki)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [pki, envoyDir] = process.argv.slice(2);
  if (!pki || !envoyDir) {
    console.error('usage: node examples/compose/setup.ts PKI_DIR ENVOY_DIR');
    process.exit(2);
  }
  setup(pki, envoyDir);
  console.error(`PKI in ${pki}, Envoy configuration in ${envoyDir}`);
}
