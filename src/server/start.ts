/**
 * A running keybroker: configuration → runtime → Check pipeline → gRPC server, plus
 * reloads. The CLI's `serve` and the integration tests both start it through here.
 */
import type { DestinationStream, Logger } from 'pino';
import { loadConfigFile } from '../config/load.ts';
import { watchConfig, type ConfigWatcher } from '../config/watch.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../lib/logger.ts';
import { allAuditors, type Auditor } from '../audit/auditor.ts';
import { decisionLog } from '../audit/decision-log.ts';
import { metricsAuditor } from '../audit/metrics.ts';
import { spanAuditor } from '../audit/span.ts';
import { setupTelemetry, type Telemetry } from '../audit/telemetry.ts';
import { createCheck } from '../pipeline/check.ts';
import { keysToWarm, releaseRuntime, retirePhaseStates, type Runtime } from '../pipeline/runtime.ts';
import { prepareRuntime } from './prepare-runtime.ts';
import { reloadRuntime } from './reload-runtime.ts';
import { exposureWarning } from './listen.ts';
import { startServer, type RunningServer, type ShutdownOptions } from './grpc.ts';
import cluster from 'node:cluster';
import { startAdminServer } from '../admin/server.ts';
import { RELOAD_ALL_WORKERS } from '../lib/worker-slot.ts';
import { collectStatus } from '../admin/status.ts';
import { GatewayTokenSigner } from '../tokens/signer.ts';
import { startTokenServer } from '../tokens/server.ts';
import type { UsageSink } from '../usage/record.ts';
import { usageSpanSink } from '../audit/usage-span.ts';
import { usageLog } from '../audit/usage-log.ts';
import { usageMetrics } from '../audit/usage-metrics.ts';
import { meteringProcessor, type MeteringDeps } from './metering.ts';
import { priceFor } from '../usage/prices.ts';
import { limitStoresOf } from '../limit/phase.ts';
import { settleSink } from '../limit/settle.ts';

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
  /** Extra usage-record sinks (tests), after the audit's. */
  readonly usageSinks?: readonly UsageSink[];
  /** How responses are metered and priced (tests); default the parsers and `prices:`. */
  readonly metering?: Pick<MeteringDeps, 'meter' | 'cost'>;
}

export interface Keybroker {
  readonly address: string;
  /** Set when the address is accepted but reachable by more than Envoy (`listen.ts`). */
  readonly exposure: string | undefined;
  /** The admin API's address, when `admin:` is configured. */
  readonly adminAddress: string | undefined;
  /** The token-exchange listener's address, when `gatewayTokens:` is configured. */
  readonly tokenAddress: string | undefined;
  readonly log: Logger;
  runtime(): Runtime;
  readonly watcher: ConfigWatcher;
  readonly telemetry: Telemetry;
  shutdown(options?: ShutdownOptions): Promise<void>;
}

export async function startKeybroker(options: StartOptions): Promise<Keybroker> {
  const loaded = loadConfigFile(options.configFile);
  const { file, config } = loaded;
  const log = createLogger(config.log.level, options.logDestination);

  // The signer outlives reloads (its retired keys must): it reads the key store in force.
  const signer = config.gatewayTokens ? new GatewayTokenSigner(config.gatewayTokens, () => current.keys, log) : undefined;
  const prepared = prepareRuntime(config, { log, gateway: signer });
  const listeners = prepared.listeners;
  let current = prepared.runtime;
  const apply = async (next: Config) => {
    const built = await reloadRuntime(current, next, log, signer);
    const previous = current;
    current = built;
    if (built.keys !== previous.keys) previous.keys.close();
    if (built.tokens !== previous.tokens) previous.tokens.close();
    retirePhaseStates(previous, current);
  };

  const watcher = watchConfig(loaded, apply, log, options.watchIntervalMs);
  // Until every listener is up, a failure releases all that was opened (the runtime's
  // key store, bundles and limit stores, the telemetry exporters) before it is thrown:
  // a keybroker that did not start holds nothing open.
  let telemetry: Telemetry | undefined;
  const servers: RunningServer[] = [];
  const abandon = async (error: unknown): Promise<never> => {
    await watcher.close();
    await Promise.all(servers.map((s) => s.shutdown({ graceMs: 0 })));
    signer?.close();
    await telemetry?.shutdown().catch(() => undefined);
    releaseRuntime(current);
    throw error;
  };
  let check: ReturnType<typeof createCheck>;
  let audit: ReturnType<typeof allAuditors>;
  let server: RunningServer;
  let usageLines: ReturnType<typeof usageLog> | undefined;
  try {
    telemetry = await setupTelemetry(config.telemetry, log, options.env);
    const sinks: Auditor[] = [...(options.auditors ?? [])];
    if (telemetry.tracer) sinks.push(spanAuditor(telemetry.tracer));
    const queue = telemetry.queue;
    sinks.push(metricsAuditor(telemetry.meter, { runtime: () => current, reloads: () => watcher.stats, audit: () => queue?.stats }));
    if (config.log.decisions) sinks.push(decisionLog(log));
    audit = allAuditors(sinks);
    check = createCheck({ runtime: () => current, audit, log });
    await current.tokens.ready();
    await current.keys.warm?.(keysToWarm(current));
    // Fail closed at start: no signing key, no token listener (and no keybroker).
    await signer?.refresh();
    signer?.start();
    // Usage metering (Envoy's ext_proc filter on provider routes): each record goes to the
    // audit's span, metrics and log line first, then to whoever else needs the real use.
    const usageCounts = usageMetrics(telemetry.meter, (destination, model) => priceFor(current.prices, destination, model) !== undefined);
    usageLines = config.log.decisions ? usageLog(log) : undefined;
    const tracer = telemetry.tracer;
    // Then limits: a record settles its reservation in the stores of the limits in force.
    const settle = settleSink(() => limitStoresOf(current.phaseStates), log);
    const usageSinks: UsageSink[] = [...(tracer ? [usageSpanSink(tracer)] : []), usageCounts.sink, ...(usageLines ? [usageLines.sink] : []), settle, ...(options.usageSinks ?? [])];
    const processor = meteringProcessor({ runtime: () => current, ...options.metering, sinks: usageSinks, dropped: (cause) => usageCounts.dropped(cause) });
    await limitStoreReady(current, log);
    server = await startServer(listeners.check, check, log, () => current.config.envoy.dynamicMetadata, processor);
    servers.push(server);
  } catch (error) {
    return abandon(error);
  }
  const started = telemetry;
  const exposure = exposureWarning(listeners.check, Object.keys(config.trust));
  if (exposure) log.warn({ address: server.address }, exposure);
  const bound = [{ name: 'check', address: server.address }];
  const startAlso = async (name: string, start: () => Promise<RunningServer>): Promise<RunningServer> => {
    try {
      const running = await start();
      servers.push(running);
      bound.push({ name, address: running.address });
      return running;
    } catch (error) {
      return abandon(error);
    }
  };
  const { admin: adminListen, token: tokenListen } = listeners;
  const admin = adminListen
    ? await startAlso('admin', () =>
        startAdminServer(
          adminListen,
          {
            runtime: () => current,
            status: () =>
              collectStatus({
                runtime: current,
                configFile: file,
                listeners: bound,
                reloads: watcher.stats,
                audit: { tracing: Boolean(started.tracer), exported: started.queue?.stats.exported ?? 0, dropped: started.queue?.stats.dropped ?? 0 },
                signingKeyId: signer?.currentKid,
              }),
            reload: async () => {
              const applied = await watcher.reload();
              // Under `serve --workers` the call reached one worker: the others reload too.
              if (cluster.isWorker) process.send?.(RELOAD_ALL_WORKERS);
              return { applied, error: watcher.lastError };
            },
            jwks: () => signer?.jwks() ?? JSON.stringify({ keys: [] }),
          },
          log,
        ),
      )
    : undefined;
  const token = tokenListen && signer ? await startAlso('token', () => startTokenServer(tokenListen, { runtime: () => current, signer }, log)) : undefined;

  return {
    address: server.address,
    exposure,
    adminAddress: admin?.address,
    tokenAddress: token?.address,
    log,
    runtime: () => current,
    watcher,
    telemetry: started,
    async shutdown(options) {
      // A reload under way finishes first: what it built is then `current`, released below.
      await watcher.close();
      await Promise.all(servers.map((s) => s.shutdown(options)));
      signer?.close();
      await started.shutdown();
      releaseRuntime(current);
      audit.flush?.();
      usageLines?.flush();
      log.info('keybroker stopped');
      await new Promise<void>((resolve) => log.flush(() => resolve()));
    },
  };
}

/**
 * A Redis store answers `limits_unavailable` (or counts locally) until it is connected: a
 * replica that listened first would refuse its first Checks for nothing — every Check of
 * a rolling restart's new replica, if Envoy sends them at once. So Check's listener waits
 * for it, up to `connectTimeout`; a Redis still away then is the outage `onStoreError`
 * handles, reported here.
 */
async function limitStoreReady(runtime: Runtime, log: Logger): Promise<void> {
  const stores = limitStoresOf(runtime.phaseStates);
  if (!stores) return;
  const waiting = setTimeout(() => log.info('waiting for the limit store (Redis) before listening'), 100);
  const ready = await stores.ready();
  clearTimeout(waiting);
  if (!ready) log.warn({ onStoreError: runtime.config.limits?.onStoreError }, 'the limit store (Redis) is not reachable: listening anyway; Checks under its limits follow onStoreError until it is');
}
