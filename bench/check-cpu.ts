/**
 * CPU per Check, in process: the gRPC message decoded, the request parsed, the whole
 * pipeline run with the audit sinks a server has (decision log to /dev/null, metrics),
 * the response encoded — no sockets, no load generator, nothing else on the clock. For
 * finding what a scenario costs beside (a) on a busy machine in a few seconds; the
 * server rows of bench/run.ts remain the figures to report.
 *
 *   node bench/check-cpu.ts [--ms 1500] [--rounds 5] [--only a,h,s,lm]
 */
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { stringify } from 'yaml';
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
import { BODY_CONDITIONS, CHAT_BODY, researchRequest } from './a-fixture.ts';

const { values: args } = parseArgs({ options: { ms: { type: 'string', default: '1500' }, rounds: { type: 'string', default: '5' }, only: { type: 'string' } } });
const dir = mkdtempSync(join(tmpdir(), 'keybroker-check-cpu-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'keys.yaml'), 'openai/prod: sk-bench-not-a-real-key\n', { mode: 0o600 });
chmodSync(join(dir, 'keys.yaml'), 0o600);

const RESEARCH = 'spiffe://bench.local/agent/research';

/** As bench/run.ts writes them: 10 grants, optionally body conditions on research's, and extra rules. */
function config(name: string, inspect: boolean, extraRules: unknown[] = [], api = inspect, extra: object = {}): string {
  const policy: unknown[] = Array.from({ length: 9 }, (_, i) => ({
    id: `filler-${i}`,
    identities: [`spiffe://bench.local/team-${i % 97}/agent-${i}`],
    destinations: ['openai'],
    methods: ['POST'],
    paths: ['/v1/chat/completions'],
  }));
  policy.push(
    { id: 'research', identities: [RESEARCH], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions', '/v1/embeddings'], ...(inspect ? BODY_CONDITIONS : {}) },
    ...extraRules,
  );
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      listen: `unix://${join(dir, `${name}.sock`)}`,
      trust: { 'bench.local': {} },
      keys: { store: 'file', file: join(dir, 'keys.yaml') },
      destinations: { openai: { upstream: 'api.openai.com', authorities: ['gateway.local'], routePrefix: '/openai', inject: 'openai', key: 'openai/prod', ...(api ? { api: 'openai' } : {}) } },
      policy,
      ...extra,
    }),
  );
  return file;
}

// (a) here sends no SVID: only the principal, as Envoy sends it without include_peer_certificate.
const request = (body?: Buffer): Buffer => researchRequest(undefined, body);

const chatBody = CHAT_BODY;
const shadowRules = Array.from({ length: 100 }, (_, i) =>
  i === 0
    ? { id: 'shadow-deny-research', mode: 'shadow', effect: 'deny', identities: [RESEARCH], destinations: ['openai'] }
    : { id: `shadow-${i}`, mode: 'shadow', identities: [`spiffe://bench.local/team-${i % 97}/*`], destinations: ['openai'], methods: ['POST'], paths: ['/v1/*'] },
);
const quietShadowRules = shadowRules.slice(1);

const SCENARIOS = [
  { key: 'a', name: '(a) mTLS principal, allowed', config: config('a', false), request: request() },
  { key: 'h', name: `(h) (a) + ${chatBody.length} B chat body, inspected`, config: config('h', true), request: request(chatBody) },
  { key: 'hn', name: `(h) (a) + ${chatBody.length} B body, no body rules`, config: config('hn', false), request: request(chatBody) },
  { key: 'ha', name: `(h) (a) + ${chatBody.length} B body, api but no body rules`, config: config('ha', false, [], true), request: request(chatBody) },
  { key: 's', name: '(s) (a) + 100 shadow rules, one disagreeing', config: config('s', false, shadowRules), request: request() },
  // bench/run.ts's (l) memory row: a request rate no Check reaches, so every Check reserves.
  {
    key: 'lm',
    name: '(l) (a) with a memory-store rate limit',
    config: config('lm', false, [], false, { limits: { rules: [{ id: 'bench-rate', identities: [RESEARCH], per: 'identity', requests: { rate: 1_000_000_000, per: '1s' } }] } }),
    request: request(),
  },
  { key: 'sq', name: '(s) (a) + 99 shadow rules, none applying', config: config('sq', false, quietShadowRules), request: request() },
];

const only = args.only?.split(',');
// Every scenario is built first, then measured in turns (a, h, …, a, h, …): on a machine
// whose load drifts, each round's figures are taken under the same conditions.
const running = [];
for (const scenario of SCENARIOS.filter((s) => !only || only.includes(s.key))) {
  const { config } = loadConfigFile(scenario.config);
  const log = createLogger('info', pino.destination({ dest: '/dev/null', sync: false, minLength: 8 * 1024 }));
  const runtime = buildRuntime(config, { log });
  const telemetry = await setupTelemetry(config.telemetry, log, {});
  const audit = allAuditors([metricsAuditor(telemetry.meter, { runtime: () => runtime, reloads: () => ({ applied: 0, rejected: 0 }), audit: () => undefined }), decisionLog(log)]);
  const check = createCheck({ runtime: () => runtime, audit, log });
  const one = (): void => {
    const facts = parseCheckRequest(decodeCheckRequest(scenario.request));
    const outcome = check(facts, { answerBy: Infinity });
    if (isPromise(outcome)) throw new Error(`${scenario.name}: the Check waited; measure a synchronous one`);
    if (!outcome.allow) throw new Error(`${scenario.name}: denied (${outcome.record.reason}); the bench would measure the wrong thing`);
    toCheckResponse(outcome);
  };
  for (let i = 0; i < 20_000; i++) one(); // warm: JIT, caches
  running.push({ scenario, one, runtime, telemetry, rounds: [] as number[] });
}
for (let r = 0; r < Number(args.rounds); r++) {
  for (const run of running) {
    const start = process.cpuUsage();
    const started = performance.now();
    let calls = 0;
    while (performance.now() - started < Number(args.ms)) {
      for (let i = 0; i < 200; i++) run.one();
      calls += 200;
    }
    const used = process.cpuUsage(start);
    run.rounds.push((used.user + used.system) / calls);
    await new Promise((resolve) => setImmediate(resolve)); // let the log streams drain
  }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
const a = running.find((run) => run.scenario.key === 'a');
for (const run of running) {
  // Per round against (a) of the same round, then the median of those ratios.
  const ratios = a ? run.rounds.map((us, i) => us / (a.rounds[i] as number)) : [];
  console.log(
    `${run.scenario.name.padEnd(48)} ${median(run.rounds).toFixed(2).padStart(7)} µs CPU per Check${a ? `, ${median(ratios).toFixed(2)}× (a) (rounds: ${ratios.map((x) => x.toFixed(2)).join(' ')})` : ''}`,
  );
  releaseRuntime(run.runtime);
  await run.telemetry.shutdown();
}
