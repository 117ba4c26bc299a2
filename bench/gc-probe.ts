/**
 * Where does p99.9 at 2,000 rps go? One keybroker (`serve --workers 1`) under
 * --trace-gc-nvp, the benchmark's (a) request (mTLS SVID, 10 grants) at 2,000 rps from 10
 * connections for a few seconds, once per young-generation size asked for. Prints, per
 * size: latency percentiles, the scavenges and mark-compacts V8 traced during the load,
 * their pauses, what each scavenge found alive and promoted (the bytes it copied, which
 * its pause scales with), and the load average at the time (the machine is shared).
 *
 *   node bench/gc-probe.ts [--seconds 10] [--semi default,16,32,64] [--root DIR]
 *
 * --root serves from another checkout (its src/cli/main.ts), to compare a commit:
 *   git archive <commit> | tar -x -C /tmp/kb-old && ln -s $PWD/node_modules /tmp/kb-old/
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { CHECK_PATH } from '../src/envoy/codec.ts';
import { aConfig, aRequest } from './a-fixture.ts';
import { median, percentiles } from './stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, semi: { type: 'string', default: 'default,16,32,64' }, root: { type: 'string', default: ROOT } },
});
const SECONDS = Number(args.seconds);
const dir = mkdtempSync(join(tmpdir(), 'keybroker-gc-probe-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const socket = join(dir, 'kb.sock');
aConfig(dir, 'kb');
const message = aRequest(dir);
const frame = Buffer.alloc(5 + message.length);
frame.writeUInt32BE(message.length, 1);
message.copy(frame, 5);
writeFileSync(join(dir, 'request.bin'), frame);

interface Pause {
  readonly kind: string;
  readonly ms: number;
  /** Scavenges: bytes found alive in the young generation, and bytes promoted out of it. */
  readonly survived: number;
  readonly promoted: number;
}

for (const semi of args.semi.split(',')) {
  const v8 = ['--trace-gc-nvp', ...(semi === 'default' ? [] : [`--max-semi-space-size=${semi}`])];
  // The server writes to a file, not a pipe: this process blocks in h2load meanwhile,
  // and a full pipe would stall the server's own writes (and its Checks).
  const outFile = join(dir, `serve-${semi}.log`);
  const fd = openSync(outFile, 'w');
  const spawnedAt = performance.now();
  // stdbuf: V8 prints its GC lines with C stdio, which would otherwise hold them in a buffer.
  const child = spawn('stdbuf', ['-oL', process.execPath, ...v8, join(args.root, 'src/cli/main.ts'), 'serve', '-c', join(dir, 'kb.yaml'), '--workers', '1'], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  for (let i = 0; i < 600 && !readFileSync(outFile, 'utf8').includes('keybroker listening'); i++) await new Promise((r) => setTimeout(r, 100));
  // Warm up, then note when the measured load starts: V8 stamps each GC line with the
  // milliseconds since its isolate started.
  h2load(2, 'warm');
  const loadFromMs = performance.now() - spawnedAt;
  const load = loadavg()[0]!.toFixed(1);
  const latencies = h2load(SECONDS, 'load');
  const loadToMs = performance.now() - spawnedAt;
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
  const out = readFileSync(outFile, 'utf8');
  // One line per GC: `[pid:isolate] 1234 ms: pause=12.3 … gc=s … promoted=… new_space_survived=…`.
  const field = (line: string, name: string) => Number(new RegExp(`[ ,]${name}=([\\d.]+)`).exec(line)?.[1] ?? NaN);
  const pauses: Pause[] = [...out.matchAll(/ (\d+) ms: pause=[^\n]*/g)]
    .filter((m) => Number(m[1]) >= loadFromMs && Number(m[1]) <= loadToMs)
    .map((m) => ({
      kind: { s: 'Scavenge', mc: 'Mark-Compact', ms: 'Minor-MS' }[/ gc=(\w+)/.exec(m[0])?.[1] ?? ''] ?? 'other',
      ms: field(m[0], 'pause'),
      survived: field(m[0], 'new_space_survived'),
      promoted: field(m[0], 'promoted'),
    }));
  const summary = (kind: string) => {
    const of = pauses.filter((p) => p.kind === kind);
    const ms = of.map((p) => p.ms);
    if (ms.length === 0) return `${kind} 0`;
    const copied = kind === 'Scavenge' ? `, median ${mb(median(of.map((p) => p.survived)))} alive and ${mb(median(of.map((p) => p.promoted)))} promoted each` : '';
    return `${kind} ${ms.length}× (max ${Math.max(...ms).toFixed(1)} ms, median ${median(ms).toFixed(1)} ms, total ${ms.reduce((a, b) => a + b, 0).toFixed(0)} ms${copied})`;
  };
  const p = percentiles(latencies);
  console.log(
    `semi-space ${semi.padEnd(7)} load ${load}  n=${latencies.length}  p50 ${p.p50.toFixed(2)} ms  p99 ${p.p99.toFixed(2)} ms  p99.9 ${p.p999.toFixed(2)} ms  ${summary('Scavenge')}  ${summary('Mark-Compact')}`,
  );
}

function mb(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(0)} KB`;
}

/** h2load at 2,000 rps (10 connections × 200 rps, one stream each); the latencies (µs) of the 200s. */
function h2load(seconds: number, name: string): number[] {
  const log = join(dir, `${name}-${Date.now()}.log`);
  execFileSync(
    'h2load',
    [
      '-B',
      `unix:${socket}`,
      '-D',
      String(seconds),
      '-c',
      '10',
      '-m',
      '1',
      '-t',
      '1',
      '--rps',
      '200',
      '-d',
      join(dir, 'request.bin'),
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      `--log-file=${log}`,
      `http://localhost${CHECK_PATH}`,
    ],
    { encoding: 'utf8', timeout: (seconds + 30) * 1000 },
  );
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((r) => r[1] === '200')
    .map((r) => Number(r[2]));
}
