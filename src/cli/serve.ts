/** `keybroker serve`: serve Check until SIGTERM/SIGINT; SIGHUP reloads the configuration. */
import cluster from 'node:cluster';
import { loadConfigFile } from '../config/load.ts';
import { startKeybroker } from '../server/start.ts';
import type { ListenAddress } from '../server/listen.ts';
import { parseListeners } from '../server/listeners.ts';
import { claimAddress, removeStaleSocket } from '../server/grpc.ts';
import { availableCpus, superviseWorkers } from '../server/workers.ts';
import { keepPerCheckObjectsYoung } from '../server/young-generation.ts';
import { parseOptions, required, UsageError, type Command } from './command.ts';

export interface ServeOptions {
  /** Processes sharing the listener; default: the CPUs available to this process. */
  readonly workers?: number;
}

/**
 * Serves until SIGTERM/SIGINT. With more than one worker this process supervises N
 * workers (src/server/workers.ts), each of which comes back here as a single keybroker.
 */
export async function serve(configFile: string, options: ServeOptions = {}): Promise<void> {
  const workers = options.workers ?? availableCpus();
  if (workers > 1 && cluster.isPrimary) {
    // Refuse a bad configuration or an address in use once, here, rather than in N
    // crash-looping workers. The primary creates the shared socket when the first worker
    // listens; its umask stays narrowed for good (it writes no other file).
    const { config } = loadConfigFile(configFile);
    const { check, admin, token } = parseListeners(config);
    const addresses = [check, admin, token?.address].filter((a): a is ListenAddress => a !== undefined);
    for (const address of addresses) await claimAddress(address);
    const code = await superviseWorkers({ workers, stopTimeoutMs: config.shutdown.drainDelay + config.shutdown.grace + 5000 });
    for (const address of addresses) if (address.kind === 'unix') removeStaleSocket(address.path);
    process.exit(code);
  }

  keepPerCheckObjectsYoung();
  const broker = await startKeybroker({ configFile });
  // Beside the log line, on stderr where a person starting it will see it.
  if (broker.exposure) process.stderr.write(`\nWARNING: ${broker.exposure}\n\n`);
  process.on('SIGHUP', () => void broker.watcher.reload());
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    broker.log.info({ signal }, 'shutting down: draining in-flight checks');
    // SIGTERM comes from an orchestrator replacing this replica: leave its load balancer
    // time to move away first. SIGINT is a person at a terminal: stop now.
    const { drainDelay, grace } = broker.runtime().config.shutdown;
    broker.shutdown({ drainDelayMs: signal === 'SIGTERM' ? drainDelay : 0, graceMs: grace }).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export const serveCommand: Command = {
  name: 'serve',
  summary: "serve Envoy's ext_authz Check (and gRPC health) from a configuration file",
  help: `usage: keybroker serve -c FILE [--workers N]

Serves envoy.service.auth.v3.Authorization/Check and grpc.health.v1 on the configured
listen address (a Unix socket, loopback, or mTLS with an allowlist of callers). Logs go
to stdout as JSON lines, one decision line per Check; keys and tokens never appear.

With N workers (default: the CPUs available to the process, CPU affinity and a cgroup
CPU limit included), N processes share the listener, each with its own event loop; the
first process supervises them (restarts one that dies, relays signals). Each worker
serves its metrics on the configured port + its slot (0…N-1).

signals: SIGTERM reports NOT_SERVING, keeps answering for shutdown.drainDelay (so load
balancers move away first), then drains in-flight checks and exits 0; SIGINT drains at
once; SIGHUP reloads the configuration in every worker (a file that does not validate
whole is refused; the last good one stays).

options:
  -c, --config FILE   the configuration file
  --workers N         processes sharing the listener (1 to 256)
  -h, --help          this text

exit codes: 0 stopped by a signal, 1 configuration error or address in use, 2 usage`,
  async run(args) {
    const values = parseOptions(args, { config: { type: 'string', short: 'c' }, workers: { type: 'string' } });
    required(values, 'config');
    let workers: number | undefined;
    if (values.workers !== undefined) {
      workers = Number(values.workers);
      if (!(Number.isInteger(workers) && workers >= 1 && workers <= 256)) throw new UsageError(`--workers: expected a whole number from 1 to 256, got "${values.workers}"`);
    }
    await serve(values.config, workers === undefined ? {} : { workers });
    return -1;
  },
};
