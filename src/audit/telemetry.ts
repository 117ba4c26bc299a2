/**
 * OpenTelemetry, set up once at start: the resource (service name and version plus
 * OTEL_RESOURCE_ATTRIBUTES), the audit trace exporter (OTLP over gRPC or HTTP/protobuf,
 * from the config or the standard OTEL_* variables) behind a bounded queue, and the
 * metrics with their Prometheus scrape endpoint on loopback.
 */
import { createRequire } from 'node:module';
import type { Meter, Tracer } from '@opentelemetry/api';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { AlwaysOnSampler, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as OtlpGrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OtlpHttpExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { AuditExportQueue } from './export-queue.ts';
import { workerSlot } from '../lib/worker-slot.ts';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export type TelemetryConfig = Config['telemetry'];

export interface Telemetry {
  /** Undefined when no trace exporter is configured. */
  readonly tracer: Tracer | undefined;
  readonly queue: AuditExportQueue | undefined;
  readonly meter: Meter;
  /** The Prometheus endpoint, when enabled. */
  readonly metricsUrl: string | undefined;
  /** Flushes queued audit records, then stops exporters. */
  shutdown(): Promise<void>;
}

export async function setupTelemetry(config: TelemetryConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Telemetry> {
  const resource = buildResource(config, env);
  const exporter = traceExporter(config.traces, env);
  let tracerProvider: TracerProvider | undefined;
  let queue: AuditExportQueue | undefined;
  if (exporter) {
    queue = new AuditExportQueue(
      exporter,
      { maxQueue: config.traces.queueSize, maxBatch: config.traces.batchSize, flushEveryMs: config.traces.flushInterval, exportTimeoutMs: config.traces.exportTimeout },
      log,
    );
    // Every decision is recorded: no parent's sampled flag (Envoy's or an agent's), no
    // ratio, no environment variable decides that (invariant 9). The queue counts what
    // it cannot export.
    tracerProvider = new TracerProvider({ resource, sampler: new AlwaysOnSampler(), spanProcessors: [queue] });
  }

  let prometheus: PrometheusExporter | undefined;
  let metricsUrl: string | undefined;
  const scrape = metricsEndpoint(config.metrics.prometheus, env);
  if (scrape) {
    prometheus = await new Promise<PrometheusExporter>((resolve, reject) => {
      const reader: PrometheusExporter = new PrometheusExporter({ host: scrape.host, port: scrape.port, withoutScopeInfo: true }, (error) => (error ? reject(error) : resolve(reader)));
    });
    metricsUrl = `http://${scrape.host}:${scrape.port}/metrics`;
  }
  const meterProvider = new MeterProvider({ resource, readers: prometheus ? [prometheus] : [] });
  log.info({ traces: exporter ? exporterName(config.traces, env) : 'none', metrics: metricsUrl ?? 'none' }, 'telemetry ready');

  return {
    tracer: tracerProvider?.getTracer('keybroker', version),
    queue,
    meter: meterProvider.getMeter('keybroker', version),
    metricsUrl,
    async shutdown() {
      await tracerProvider?.shutdown();
      await meterProvider.shutdown();
    },
  };
}

function buildResource(config: TelemetryConfig, env: NodeJS.ProcessEnv): Resource {
  const fromEnv = detectResources({ detectors: [envDetector] });
  const ours = resourceFromAttributes({
    'service.name': config.serviceName ?? env['OTEL_SERVICE_NAME'] ?? 'keybroker',
    'service.version': version,
    ...config.resourceAttributes,
  });
  return fromEnv.merge(ours);
}

function exporterName(traces: TelemetryConfig['traces'], env: NodeJS.ProcessEnv): string {
  return `otlp/${traces.protocol ?? env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'grpc'}`;
}

/**
 * The config decides; without it, OTEL_TRACES_EXPORTER or an OTLP endpoint variable turns
 * export on. Nothing configured means no export (the decision log still has every record).
 */
function traceExporter(traces: TelemetryConfig['traces'], env: NodeJS.ProcessEnv): SpanExporter | undefined {
  const chosen = traces.exporter ?? (env['OTEL_TRACES_EXPORTER'] === 'otlp' || env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ? 'otlp' : 'none');
  if (chosen === 'none') return undefined;
  const protocol = traces.protocol ?? env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'grpc';
  if (protocol === 'grpc') return new OtlpGrpcExporter(traces.endpoint ? { url: traces.endpoint } : {});
  if (protocol === 'http/protobuf') {
    const url = traces.endpoint && new URL(traces.endpoint).pathname === '/' ? new URL('/v1/traces', traces.endpoint).toString() : traces.endpoint;
    return new OtlpHttpExporter(url ? { url } : {});
  }
  throw new Error(`OTLP protocol "${protocol}" is not supported; use grpc or http/protobuf`);
}

/**
 * Under `serve --workers`, each worker serves its own metrics: worker slot i on port + i
 * (one scrape target per worker; a shared port would answer for a random worker).
 */
function metricsEndpoint(scrape: TelemetryConfig['metrics']['prometheus'], env: NodeJS.ProcessEnv) {
  const slot = workerSlot(env);
  return scrape && scrape.port !== 0 && slot > 0 ? { ...scrape, port: scrape.port + slot } : scrape;
}
