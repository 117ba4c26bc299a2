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
import { containerValues, providerValues } from '../../envoy/values.ts';

const ENVOY_UID = 101;
/** The group keybroker's socket belongs to; Envoy runs with it (ENVOY_GID). */
const SOCKET_GID = 1337;

export function composeEnvoyValues(pki: string): Record<string, string | number> {
  return {
    ...containerValues('demo.local'),
    GATEWAY_CERT: join(pki, 'gateway.crt'),
    GATEWAY_KEY: join(pki, 'gateway.key'),
    AGENT_CA: join(pki, 'demo.local-ca.crt'),
    // The fake provider answers for api.openai.com and api.anthropic.com: Envoy still
    // verifies TLS against those names, under the providers CA made here.
    ...providerValues(join(pki, 'providers-ca.crt'), { discovery: 'STRICT_DNS', address: 'fake-provider', ports: { openai: 8443, anthropic: 8444, mcp: 8445 } }),
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
