/**
 * CPU of one step of (a)'s Check, in process: `parse` (the gRPC message decoded and
 * parsed into facts), `check` (that and the pipeline, no audit sinks) or `response` (the
 * allowed outcome encoded). For changes too small to resolve in the server pairs: run it
 * against a copy of the commit before and this checkout, in turns.
 *
 *   git archive main | tar -x -C /tmp/kb-base && ln -s $PWD/node_modules /tmp/kb-base/
 *   node bench/step-cpu.ts --root /tmp/kb-base --step response; node bench/step-cpu.ts --step response
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './stats.ts';

const { values: args } = parseArgs({
  options: { root: { type: 'string', default: fileURLToPath(new URL('../', import.meta.url)) }, step: { type: 'string', default: 'response' }, rounds: { type: 'string', default: '7' } },
});
const root = args.root;
const from = (path: string) => import(join(root, path));
const { pino } = await from('node_modules/pino/pino.js');
const { decodeCheckRequest } = await from('src/envoy/codec.ts');
const { parseCheckRequest } = await from('src/envoy/request.ts');
const { toCheckResponse } = await from('src/envoy/response.ts');
const { loadConfigFile } = await from('src/config/load.ts');
const { createLogger } = await from('src/lib/logger.ts');
const { buildRuntime } = await from('src/pipeline/runtime.ts');
const { createCheck } = await from('src/pipeline/check.ts');
const { aConfig, aRequest } = await from('bench/a-fixture.ts');

const dir = mkdtempSync(join(tmpdir(), 'keybroker-step-cpu-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const bytes: Buffer = aRequest(dir);
const { config } = loadConfigFile(aConfig(dir, 'a'));
const log = createLogger('info', pino.destination({ dest: '/dev/null', sync: false, minLength: 8 * 1024 }));
const runtime = buildRuntime(config, { log });
const check = createCheck({ runtime: () => runtime, audit: { record() {} }, log });
// grpc-js hands the decoder a fresh buffer per message.
const parse = () => parseCheckRequest(decodeCheckRequest(Buffer.from(bytes)));
const outcome = check(parse(), { answerBy: performance.now() + 5000 });
if (!outcome.allow) throw new Error(`denied (${outcome.record.reason}); this would measure the wrong thing`);
const steps: Record<string, () => unknown> = {
  parse,
  check: () => check(parse(), { answerBy: performance.now() + 5000 }),
  response: () => toCheckResponse(outcome),
};
const step = steps[args.step];
if (!step) throw new Error(`--step: one of ${Object.keys(steps).join(', ')}`);

let kept: unknown;
for (let i = 0; i < 50_000; i++) kept = step(); // warm: JIT, caches
const perCall: number[] = [];
for (let r = 0; r < Number(args.rounds); r++) {
  const start = process.cpuUsage();
  const started = performance.now();
  let calls = 0;
  while (performance.now() - started < 400) {
    for (let i = 0; i < 100; i++) kept = step();
    calls += 100;
  }
  const used = process.cpuUsage(start);
  perCall.push((used.user + used.system) / calls);
}
if (kept === undefined) throw new Error('the step returned nothing');
console.log(`${args.step} (${root}): ${median(perCall).toFixed(2)} µs CPU per call (${Math.min(...perCall).toFixed(2)}–${Math.max(...perCall).toFixed(2)})`);
