/**
 * A running keybroker: configuration → runtime → Check pipeline → gRPC server, plus
 * reloads. The CLI's `serve` and the integration tests both start it through here.
 */
import type { DestinationStream, Logger } from 'pino';
import { loadConfigFile } from '../config/load.ts';
import { watchConfig, type ConfigWatcher } from '../config/watch.ts';
import type { Config } from '../config/schema.ts';
import { canonicalJson } from '../lib/canonical-json.ts';
import { createLogger } from '../lib/logger.ts';
import { allAuditors, type Auditor } from '../audit/auditor.ts';
import { decisionLog } from '../audit/decision-log.ts';
import { metricsAuditor } from '../audit/metrics.ts';
import { spanAuditor } from '../audit/span.ts';
import { setupTelemetry, type Telemetry } from '../audit/telemetry.ts';
import { createCheck } from '../pipeline/check.ts';
import { buildRuntime, identityConfig, releaseRuntime, retirePhaseStates, type Runtime } from '../pipeline/runtime.ts';
import { parseListen } from './listen.ts';
import { startServer } from './grpc.ts';

export interface StartOptions {
  readonly configFile: string;
  /** Where logs go (default stdout). Tests pass a capturing stream. */
  readonly logDestination?: DestinationStream;
  /** How often the config file is polled for changes; 0: only on `reload()` (SIGHUP). */
  readonly watchIntervalMs?: number;
  /** Extra audit sinks (tests). */
  readonly auditors?: readonly Auditor[];
  /** The environment OTEL_* settings are read from (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Keybroker {
  readonly address: string;
  readonly log: Logger;
  runtime(): Runtime;
  readonly watcher: ConfigWatcher;
  readonly telemetry: Telemetry;
  shutdown(graceMs?: number): Promise<void>;
}

export async function startKeybroker(options: StartOptions): Promise<Keybroker> {
  const { file, config } = loadConfigFile(options.configFile);
  const listen = parseListen(config.listen);
  const log = createLogger(config.log.level, options.logDestination);

  let current = buildRuntime(config, { log });
  const apply = async (next: Config) => {
    if (canonicalJson(next.listen) !== canonicalJson(current.config.listen)) {
      log.warn({ file }, 'listen changed; it takes effect on restart, the rest of the configuration now');
    }
    const sameKeys = canonicalJson(next.keys) === canonicalJson(current.config.keys);
    const sameIdentity = canonicalJson(identityConfig(next)) === canonicalJson(identityConfig(current.config));
    const built = buildRuntime(next, { log, previous: current, ...(sameKeys ? { keys: current.keys } : {}), ...(sameIdentity ? { tokens: current.tokens } : {}) });
    if (!sameIdentity) {
      // New bundles must hold keys before they decide anything: a URL source that cannot
      // be read rejects the reload rather than swapping in an empty trust store.
      await built.tokens.ready();
      const empty = built.tokens.bundles().filter((b) => !b.keySet()).map((b) => b.name);
      if (empty.length > 0) {
        if (!sameKeys) built.keys.close();
        built.tokens.close();
        retirePhaseStates(built, current);
        throw new Error(`could not load ${empty.join(', ')}`);
      }
    }
    if (!sameKeys) await built.keys.warm?.([...built.destinations.values()].map((d) => d.keyRef));
    const previous = current;
    current = built;
    if (!sameKeys) previous.keys.close();
    if (!sameIdentity) previous.tokens.close();
    retirePhaseStates(previous, current);
  };

  const watcher = watchConfig(file, apply, log, options.watchIntervalMs);
  const telemetry = await setupTelemetry(config.telemetry, log, options.env);
  const sinks: Auditor[] = [...(options.auditors ?? [])];
  if (telemetry.tracer) sinks.push(spanAuditor(telemetry.tracer));
  sinks.push(metricsAuditor(telemetry.meter, { runtime: () => current, reloads: () => watcher.stats, audit: () => telemetry.queue?.stats }));
  if (config.log.decisions) sinks.push(decisionLog(log));
  const audit = allAuditors(sinks);
  const check = createCheck({ runtime: () => current, audit, log });
  await current.tokens.ready();
  await current.keys.warm?.([...current.destinations.values()].map((d) => d.keyRef));
  const server = await startServer(listen, check, log);

  return {
    address: server.address,
    log,
    runtime: () => current,
    watcher,
    telemetry,
    async shutdown(graceMs) {
      watcher.close();
      await server.shutdown(graceMs);
      await telemetry.shutdown();
      releaseRuntime(current);
      audit.flush?.();
      log.info('keybroker stopped');
      await new Promise<void>((resolve) => log.flush(() => resolve()));
    },
  };
}
