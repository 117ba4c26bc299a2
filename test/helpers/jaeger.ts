/**
 * A real Jaeger (v2, built from the Go module at v1.76.0 into .tools/bin by
 * scripts/install-tools.sh): in-memory storage, OTLP and the query API on loopback ports.
 * Missing Jaeger is a failure, never a skip.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, spawnProcess, type Spawned } from './process.ts';
import { freePort } from './envoy.ts';
import { exitWatch, poll } from './poll.ts';

export const JAEGER_BIN = join(ROOT, '.tools/bin/jaeger');

export interface JaegerPorts {
  readonly otlpGrpc: number;
  readonly otlpHttp: number;
  readonly query: number;
  readonly queryGrpc: number;
}

export interface RunningJaeger {
  readonly ports: JaegerPorts;
  readonly process: Spawned;
  stop(): Promise<void>;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: string; traceID: string; spanID: string }>;
  tags: Array<{ key: string; type: string; value: unknown }>;
  processID: string;
}

export async function jaegerPorts(): Promise<JaegerPorts> {
  return { otlpGrpc: await freePort(), otlpHttp: await freePort(), query: await freePort(), queryGrpc: await freePort() };
}

export async function startJaeger(dir: string, ports: JaegerPorts): Promise<RunningJaeger> {
  if (!existsSync(JAEGER_BIN)) throw new Error(`Jaeger is not installed at ${JAEGER_BIN}: run bash scripts/install-tools.sh`);
  const config = join(dir, `jaeger-${ports.query}.yaml`);
  writeFileSync(
    config,
    `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${ports.otlpGrpc}
      http:
        endpoint: 127.0.0.1:${ports.otlpHttp}
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    grpc:
      endpoint: 127.0.0.1:${ports.queryGrpc}
    http:
      endpoint: 127.0.0.1:${ports.query}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`,
  );
  const proc = spawnProcess(JAEGER_BIN, ['--config', config]);
  await poll(
    async () => {
      if (!(await fetch(`http://127.0.0.1:${ports.query}/api/services`)).ok) throw new Error('not ready');
    },
    {
      timeoutMs: 30_000,
      stop: exitWatch(proc.exited(), () => new Error(`Jaeger exited during start:\n${proc.output()}`)),
      describe: () => new Error(`Jaeger was not ready within 30 s:\n${proc.output()}`),
    },
  );
  return {
    ports,
    process: proc,
    async stop() {
      proc.child.kill('SIGKILL');
      await proc.exited();
    },
  };
}

/** Spans of `service` whose tags include all of `tags`, waiting up to `timeoutMs` for at least `atLeast`. */
export async function findSpans(queryPort: number, service: string, tags: Record<string, string>, atLeast = 1, timeoutMs = 10_000): Promise<JaegerSpan[]> {
  const deadline = Date.now() + timeoutMs;
  let spans: JaegerSpan[] = [];
  while (Date.now() < deadline) {
    const url = `http://127.0.0.1:${queryPort}/api/traces?service=${encodeURIComponent(service)}&limit=1000&lookback=1h&tags=${encodeURIComponent(JSON.stringify(tags))}`;
    const body = (await (await fetch(url)).json()) as { data: Array<{ spans: JaegerSpan[] }> | null };
    spans = (body.data ?? []).flatMap((t) => t.spans).filter((s) => Object.entries(tags).every(([k, v]) => s.tags.some((t) => t.key === k && String(t.value) === v)));
    if (spans.length >= atLeast) return spans;
    await new Promise((r) => setTimeout(r, 200));
  }
  return spans;
}

export async function traceJson(queryPort: number, service: string): Promise<string> {
  return (await fetch(`http://127.0.0.1:${queryPort}/api/traces?service=${encodeURIComponent(service)}&limit=10000&lookback=1h`)).text();
}
