/**
 * The server's (a) Check in process — bench/run.ts's request, with the SVID Envoy passes
 * (`include_peer_certificate`), decoded from its bytes, the call context a gRPC call
 * gives, the pipeline with the server's audit sinks (decision log to /dev/null, metrics)
 * and the response encoded — measured two ways, in rounds: CPU µs per Check, and bytes
 * allocated on the JS heap per Check (heap growth over batches that no GC interrupted),
 * which is what young-generation GC pauses scale with.
 *
 *   node bench/check-alloc.ts [--rounds 7] [--ms 1500]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import { pino } from 'pino';
import { decodeCheckRequest } from '../src/envoy/codec.ts';
import { parseCheckRequest } from '../src/envoy/request.ts';
import { toCheckResponse } from '../src/envoy/response.ts';
import { loadConfigFile } from '../src/config/load.ts';
import { createLogger } from '../src/lib/logger.ts';
import { buildRuntime, releaseRuntime } from '../src/pipeline/runtime.ts';
import { createCheck } from '../src/pipeline/check.ts';
import { allAuditors } from '../src/audit/auditor.ts';
import { decisionLog } from '../src/audit/decision-log.ts';
import { metricsAuditor } from '../src/audit/metrics.ts';
import { setupTelemetry } from '../src/audit/telemetry.ts';
import { isPromise } from '../src/lib/maybe-async.ts';
import { aConfig, aRequest } from './a-fixture.ts';

const { values: args } = parseArgs({ options: { ms: { type: 'string', default: '1500' }, rounds: { type: 'string', default: '7' } } });
const dir = mkdtempSync(join(tmpdir(), 'keybroker-check-alloc-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const requestBytes = aRequest(dir);

const { config } = loadConfigFile(aConfig(dir, 'a'));
const log = createLogger('info', pino.destination({ dest: '/dev/null', sync: false, minLength: 8 * 1024 }));
const runtime = buildRuntime(config, { log });
const telemetry = await setupTelemetry(config.telemetry, log, {});
const audit = allAuditors([metricsAuditor(telemetry.meter, { runtime: () => runtime, reloads: () => ({ applied: 0, rejected: 0 }), audit: () => undefined }), decisionLog(log)]);
const check = createCheck({ runtime: () => runtime, audit, log });
const one = (): void => {
  // grpc-js hands the decoder a fresh buffer per message.
  const facts = parseCheckRequest(decodeCheckRequest(Buffer.from(requestBytes)));
  const outcome = check(facts, { answerBy: performance.now() + 5000, onCancel: () => {} });
  if (isPromise(outcome)) throw new Error('the Check waited; measure a synchronous one');
  if (!outcome.allow) throw new Error(`denied (${outcome.record.reason}); this would measure the wrong thing`);
  toCheckResponse(outcome);
};
for (let i = 0; i < 20_000; i++) one(); // warm: JIT, caches

let gcs = 0;
new PerformanceObserver((list) => (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] });
const cpu: number[] = [];
const bytes: number[] = [];
for (let r = 0; r < Number(args.rounds); r++) {
  const start = process.cpuUsage();
  const started = performance.now();
  let calls = 0;
  while (performance.now() - started < Number(args.ms)) {
    for (let i = 0; i < 200; i++) one();
    calls += 200;
  }
  const used = process.cpuUsage(start);
  cpu.push((used.user + used.system) / calls);
  await new Promise((resolve) => setImmediate(resolve)); // GC entries and log writes land
  // Heap growth over 100 Checks; a batch a GC interrupted (seen after it) is done again.
  const samples: number[] = [];
  while (samples.length < 20) {
    const seen = gcs;
    const before = getHeapStatistics().used_heap_size;
    for (let i = 0; i < 100; i++) one();
    const grown = getHeapStatistics().used_heap_size - before;
    await new Promise((resolve) => setImmediate(resolve));
    if (gcs === seen && grown > 0) samples.push(grown / 100);
  }
  bytes.push(median(samples));
}
function median(xs: number[]): number {
  return [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
}
console.log(
  `(a) with SVID, in process: ${median(cpu).toFixed(2)} µs CPU per Check (${cpu.map((x) => x.toFixed(1)).join(' ')}), ${median(bytes).toFixed(0)} B allocated per Check (${bytes.map((x) => x.toFixed(0)).join(' ')})`,
);
releaseRuntime(runtime);
await telemetry.shutdown();
