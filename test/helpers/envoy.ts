/**
 * Real Envoy for end-to-end tests: the shipped envoy/egress-gateway.yaml rendered with
 * free loopback ports and per-run certificates, started from the project's own install
 * (.tools/bin/envoy, put there by scripts/install-tools.sh). A missing Envoy is a test
 * failure, never a skip.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { renderTemplate } from '../../envoy/render.ts';
import { providerValues } from '../../envoy/values.ts';
import { ROOT, spawnProcess, type Spawned } from './process.ts';
import { exitWatch, poll } from './poll.ts';

export const ENVOY_BIN = join(ROOT, '.tools/bin/envoy');
export const GATEWAY_TEMPLATE = join(ROOT, 'envoy/egress-gateway.yaml');

export function requireEnvoy(): string {
  if (!existsSync(ENVOY_BIN)) throw new Error(`Envoy is not installed at ${ENVOY_BIN}: run bash scripts/install-tools.sh`);
  return ENVOY_BIN;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export interface RunningEnvoy {
  readonly port: number;
  /** The listener for agents that present a token instead of a certificate. */
  readonly tokenPort: number;
  readonly adminPort: number;
  readonly accessLog: string;
  readonly process: Spawned;
  accessLogLines(): Array<Record<string, string | number>>;
  stop(): Promise<void>;
}

export interface EnvoyPorts {
  readonly port: number;
  readonly tokenPort: number;
  readonly adminPort: number;
}

/**
 * What a route whose destination's rules read the body sends keybroker: the whole body
 * (never part of it), as bytes, up to keybroker's own limit (src/inspect/read-body.ts).
 * The shipped configs' comments give the same settings (test/unit/envoy-body-routes.test.ts).
 */
export const INSPECT_BODY = { max_request_bytes: 1048576, allow_partial_message: false, pack_as_bytes: true } as const;

/**
 * The shipped template with the body sent on the routes of `destinations`: what an
 * operator adds for destinations whose rules read the body (docs/body-rules.md).
 */
export function withRequestBody(template: string, destinations: readonly string[]): string {
  let out = template;
  for (const destination of destinations) {
    const line = new RegExp(`^( *)context_extensions: \\{ destination: ${destination} \\}\n`, 'm');
    if (!line.test(out)) throw new Error(`the template has no ext_authz route for destination "${destination}"`);
    out = out.replace(line, (found, indent: string) => `${found}${indent}with_request_body: ${JSON.stringify(INSPECT_BODY)}\n`);
  }
  return out;
}

export async function startEnvoy(
  dir: string,
  values: Record<string, string | number>,
  template = GATEWAY_TEMPLATE,
  ports?: EnvoyPorts,
  options: { readonly bodyFor?: readonly string[] } = {},
): Promise<RunningEnvoy> {
  const envoy = requireEnvoy();
  const port = ports?.port ?? (await freePort());
  const tokenPort = ports?.tokenPort ?? (await freePort());
  const adminPort = ports?.adminPort ?? (await freePort());
  const accessLog = join(dir, 'access.log');
  const configFile = join(dir, 'envoy.yaml');
  writeFileSync(
    configFile,
    renderTemplate(withRequestBody(readFileSync(template, 'utf8'), options.bodyFor ?? []), {
      ...values,
      LISTEN_ADDRESS: '127.0.0.1',
      LISTEN_PORT: port,
      TOKEN_LISTEN_PORT: tokenPort,
      ADMIN_PORT: adminPort,
      ACCESS_LOG: accessLog,
    }),
  );
  const proc = spawnProcess(envoy, ['-c', configFile, '--use-dynamic-base-id', '--log-level', 'warn', '--concurrency', '1', '--disable-hot-restart', '--file-flush-interval-msec', '100']);
  await waitReady(adminPort, proc);
  return {
    port,
    tokenPort,
    adminPort,
    accessLog,
    process: proc,
    accessLogLines: () =>
      existsSync(accessLog)
        ? readFileSync(accessLog, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, string | number>)
        : [],
    async stop() {
      proc.child.kill('SIGTERM');
      await proc.exited();
    },
  };
}

function waitReady(adminPort: number, proc: Spawned): Promise<void> {
  return poll(
    async () => {
      if (!(await fetch(`http://127.0.0.1:${adminPort}/ready`)).ok) throw new Error('not ready');
    },
    {
      timeoutMs: 20_000,
      intervalMs: 100,
      stop: exitWatch(proc.exited(), () => new Error(`Envoy exited during start:\n${proc.output()}`)),
      describe: () => new Error(`Envoy was not ready within 20 s:\n${proc.output()}`),
    },
  );
}

/** `envoy --mode validate` on a rendered config; throws with Envoy's output when invalid. */
export function validateEnvoyConfig(configFile: string): string {
  return execFileSync(requireEnvoy(), ['--mode', 'validate', '-c', configFile, '--use-dynamic-base-id'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Template values for the gateway's own side: its certificate, the agents' CA and trust domain, keybroker's socket. */
export function gatewayValues(gateway: { certFile: string; keyFile: string }, agentCaFile: string, keybrokerAddress: string, trustDomain = 'example.org'): Record<string, string> {
  return { GATEWAY_CERT: gateway.certFile, GATEWAY_KEY: gateway.keyFile, AGENT_CA: agentCaFile, TRUST_DOMAIN: trustDomain, KEYBROKER_SOCKET: keybrokerAddress.replace('unix://', '') };
}

/**
 * Template values that point the provider clusters at local fake providers under `caFile`;
 * the MCP cluster at `mcpPort` when given (else at a port nothing listens on).
 */
export function fakeProviderValues(caFile: string, openaiPort: number, anthropicPort: number, mcpPort = 9): Record<string, string | number> {
  return providerValues(caFile, { discovery: 'STATIC', address: '127.0.0.1', ports: { openai: openaiPort, anthropic: anthropicPort, mcp: mcpPort } });
}
