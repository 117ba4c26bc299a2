/**
 * Real SPIRE for end-to-end tests: a server (sqlite, disk key manager, join-token node
 * attestation, a SPIFFE bundle endpoint) and an agent (unix workload attestor that
 * discovers workload paths) on loopback ports and Unix sockets in a temporary directory.
 * Built by scripts/install-tools.sh; missing SPIRE is a failure, never a skip.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, spawnProcess, type Spawned } from './process.ts';
import { freePort } from './envoy.ts';
import { exitWatch, poll } from './poll.ts';

export const SPIRE_SERVER = join(ROOT, '.tools/bin/spire-server');
export const SPIRE_AGENT = join(ROOT, '.tools/bin/spire-agent');

export interface RunningSpire {
  readonly trustDomain: string;
  readonly serverSocket: string;
  readonly agentSocket: string;
  readonly bundleEndpoint: string;
  readonly nodeId: string;
  /** Registers a workload; returns the entry id. */
  createEntry(spiffeId: string, selector: string, ttls?: { x509?: number; jwt?: number }): string;
  deleteEntry(id: string): void;
  /** `spire-server bundle show` in PEM or SPIFFE (JWKS) form. */
  bundle(format: 'pem' | 'spiffe'): string;
  /** A copy of spire-agent at a path of its own: a distinct workload for the unix attestor. */
  workloadBinary(name: string): string;
  fetchJwt(audience: string, binary?: string): string;
  fetchX509(outDir: string, binary?: string): { cert: string; key: string; bundle: string };
  stop(): Promise<void>;
}

function run(binary: string, args: string[], timeout = 15_000): string {
  return execFileSync(binary, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}

function waitHealthy(binary: string, socket: string, proc: Spawned): Promise<void> {
  return poll(() => void run(binary, ['healthcheck', '-socketPath', socket], 5000), {
    timeoutMs: 30_000,
    intervalMs: 250,
    stop: exitWatch(proc.exited(), () => new Error(`${binary} exited during start:\n${proc.output()}`)),
    describe: () => new Error(`${binary} did not become healthy:\n${proc.output()}`),
  });
}

export async function startSpire(dir: string, trustDomain = 'example.org'): Promise<RunningSpire> {
  for (const bin of [SPIRE_SERVER, SPIRE_AGENT]) if (!existsSync(bin)) throw new Error(`${bin} is missing: run bash scripts/install-tools.sh`);
  mkdirSync(join(dir, 'server'), { recursive: true });
  mkdirSync(join(dir, 'agent'), { recursive: true });
  const serverPort = await freePort();
  const bundlePort = await freePort();
  const serverSocket = join(dir, 'server.sock');
  const agentSocket = join(dir, 'agent.sock');
  writeFileSync(
    join(dir, 'server.conf'),
    `server {
  bind_address = "127.0.0.1"
  bind_port = "${serverPort}"
  socket_path = "${serverSocket}"
  trust_domain = "${trustDomain}"
  data_dir = "${join(dir, 'server')}"
  log_level = "WARN"
  default_x509_svid_ttl = "1h"
  default_jwt_svid_ttl = "5m"
  federation {
    bundle_endpoint {
      address = "127.0.0.1"
      port = ${bundlePort}
      profile "https_spiffe" {}
    }
  }
}
plugins {
  DataStore "sql" { plugin_data { database_type = "sqlite3" connection_string = "${join(dir, 'server/datastore.sqlite3')}" } }
  KeyManager "disk" { plugin_data { keys_path = "${join(dir, 'server/keys.json')}" } }
  NodeAttestor "join_token" { plugin_data {} }
}
`,
  );
  const server = spawnProcess(SPIRE_SERVER, ['run', '-config', join(dir, 'server.conf')]);
  await waitHealthy(SPIRE_SERVER, serverSocket, server);

  const token = /Token: (\S+)/.exec(run(SPIRE_SERVER, ['token', 'generate', '-socketPath', serverSocket, '-spiffeID', `spiffe://${trustDomain}/test-node`]))?.[1];
  if (!token) throw new Error('spire-server token generate printed no token');
  writeFileSync(join(dir, 'bundle.pem'), run(SPIRE_SERVER, ['bundle', 'show', '-socketPath', serverSocket]));
  writeFileSync(
    join(dir, 'agent.conf'),
    `agent {
  data_dir = "${join(dir, 'agent')}"
  log_level = "WARN"
  server_address = "127.0.0.1"
  server_port = "${serverPort}"
  socket_path = "${agentSocket}"
  trust_bundle_path = "${join(dir, 'bundle.pem')}"
  trust_domain = "${trustDomain}"
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data { discover_workload_path = true } }
}
`,
  );
  const agent = spawnProcess(SPIRE_AGENT, ['run', '-config', join(dir, 'agent.conf'), '-joinToken', token]);
  await waitHealthy(SPIRE_AGENT, agentSocket, agent);

  const fetchArgs = (binary: string | undefined) => [binary ?? SPIRE_AGENT, ['-socketPath', agentSocket]] as const;
  const nodeId = `spiffe://${trustDomain}/spire/agent/join_token/${token}`;
  return {
    trustDomain,
    serverSocket,
    agentSocket,
    bundleEndpoint: `https://127.0.0.1:${bundlePort}`,
    nodeId,
    createEntry(spiffeId, selector, ttls = {}) {
      const out = run(SPIRE_SERVER, [
        'entry',
        'create',
        '-socketPath',
        serverSocket,
        '-parentID',
        nodeId,
        '-spiffeID',
        spiffeId,
        '-selector',
        selector,
        ...(ttls.x509 ? ['-x509SVIDTTL', String(ttls.x509)] : []),
        ...(ttls.jwt ? ['-jwtSVIDTTL', String(ttls.jwt)] : []),
      ]);
      const id = /Entry ID\s+:\s+(\S+)/.exec(out)?.[1];
      if (!id) throw new Error(`entry create printed no id:\n${out}`);
      return id;
    },
    deleteEntry(id) {
      run(SPIRE_SERVER, ['entry', 'delete', '-socketPath', serverSocket, '-entryID', id]);
    },
    bundle(format) {
      return run(SPIRE_SERVER, ['bundle', 'show', '-socketPath', serverSocket, ...(format === 'spiffe' ? ['-format', 'spiffe'] : [])]);
    },
    workloadBinary(name) {
      const copy = join(dir, name);
      if (!existsSync(copy)) copyFileSync(realpathSync(SPIRE_AGENT), copy);
      execFileSync('chmod', ['755', copy]);
      return copy;
    },
    fetchJwt(audience, binary) {
      const [bin, socketArgs] = fetchArgs(binary);
      const out = run(bin, ['api', 'fetch', 'jwt', '-audience', audience, ...socketArgs, '-timeout', '5s']);
      const token = /token\([^)]*\):\s+(\S+)/.exec(out)?.[1];
      if (!token) throw new Error('spire-agent api fetch jwt printed no token');
      return token;
    },
    fetchX509(outDir, binary) {
      mkdirSync(outDir, { recursive: true });
      const [bin, socketArgs] = fetchArgs(binary);
      run(bin, ['api', 'fetch', 'x509', '-write', outDir, ...socketArgs, '-timeout', '5s']);
      return { cert: join(outDir, 'svid.0.pem'), key: join(outDir, 'svid.0.key'), bundle: join(outDir, 'bundle.0.pem') };
    },
    async stop() {
      agent.child.kill('SIGTERM');
      server.child.kill('SIGTERM');
      await Promise.all([agent.exited(), server.exited()]);
    },
  };
}
