/**
 * Where a Check's server CPU goes, under the benchmark's load. Runs the (a) request (mTLS
 * principal and SVID, 10 grants, allowed; with `--scenario h`, (h): the same with the
 * 2 KB chat body and body rules) from h2load (8 connections × 8 streams, closed loop)
 * against one server at a time, and either
 *
 *   --profile: runs each server under `--cpu-prof` and prints µs per request by category
 *              (keybroker's code, grpc-js, Node's http2, other Node internals, GC) and the
 *              top functions by self time;
 *   --rounds N: (default) keeps every server up and loads them in turns, N rounds, printing
 *              server CPU µs per request from /proc and each side's median and spread.
 *
 * A side is `baseline` (bench/baseline-server.ts) or a keybroker checkout's root (its
 * src/cli/main.ts serves), so an earlier commit can be measured beside this one:
 *
 *   git archive main | tar -x -C /tmp/kb-main && ln -s $PWD/node_modules /tmp/kb-main/
 *   node bench/profile-check.ts --sides baseline,/tmp/kb-main,. --rounds 6
 *   node bench/profile-check.ts --sides baseline,. --profile
 *   node bench/profile-check.ts --sides . --profile --scenario h
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, openSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CHECK_PATH } from '../src/envoy/codec.ts';
import { aConfig, aRequest, CHAT_BODY } from './a-fixture.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    sides: { type: 'string', default: 'baseline,.' },
    scenario: { type: 'string', default: 'a' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '4' },
    profile: { type: 'boolean', default: false },
    node: { type: 'string', default: '' },
    keep: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds);
const dir = mkdtempSync(join(tmpdir(), 'keybroker-profile-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

if (args.scenario !== 'a' && args.scenario !== 'h') throw new Error(`--scenario ${args.scenario}: expected a or h`);
const inspect = args.scenario === 'h';
const message = aRequest(dir, inspect ? CHAT_BODY : undefined);
const frame = Buffer.alloc(5 + message.length);
frame.writeUInt32BE(message.length, 1);
message.copy(frame, 5);
const requestFile = join(dir, 'request.bin');
writeFileSync(requestFile, frame);

interface Side {
  readonly name: string;
  readonly child: ChildProcess;
  readonly socket: string;
  readonly profileDir: string;
}

async function start(spec: string, index: number): Promise<Side> {
  const name = `${index}-${spec === 'baseline' ? 'baseline' : 'keybroker'}`;
  const socket = join(dir, `${name}.sock`);
  const profileDir = join(dir, `${name}-profile`);
  const v8 = [...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...(args.node ? args.node.split(' ') : [])];
  const argv =
    spec === 'baseline'
      ? [...v8, join(ROOT, 'bench/baseline-server.ts'), `unix://${socket}`]
      : [...v8, join(resolve(spec), 'src/cli/main.ts'), 'serve', '-c', aConfig(dir, name, inspect), '--workers', '1'];
  // With V8 tracing asked for (--node '--trace-gc'), stdout is kept in OUT_DIR, one file per side.
  const out = process.env['OUT_DIR'] ? openSync(join(process.env['OUT_DIR'], `${name}.out`), 'w') : 'ignore';
  const child = spawn(process.execPath, argv, { cwd: spec === 'baseline' ? ROOT : resolve(spec), stdio: ['ignore', out, 'inherit'] });
  for (let i = 0; i < 600 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(socket)) throw new Error(`${spec} did not start`);
  return { name: spec, child, socket, profileDir };
}

function stop(side: Side): Promise<void> {
  return new Promise((done) => {
    side.child.once('exit', () => done());
    // The baseline writes its profile only on SIGTERM (it calls process.exit); keybroker
    // would first wait out its drain delay on SIGTERM, so it gets SIGINT.
    side.child.kill(side.name === 'baseline' ? 'SIGTERM' : 'SIGINT');
  });
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Requests that succeeded over `seconds` of closed-loop load. */
function load(socket: string, seconds: number): number {
  const out = execFileSync(
    'h2load',
    ['-B', `unix:${socket}`, '-D', String(seconds), '-c', '8', '-m', '8', '-t', '1', '-d', requestFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://localhost${CHECK_PATH}`],
    { encoding: 'utf8', timeout: (seconds + 30) * 1000 },
  );
  return Number(/requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(out)?.[1] ?? 0);
}

const specs = args.sides.split(',');
const sides: Side[] = [];
for (const [i, spec] of specs.entries()) sides.push(await start(spec, i));
const warm = new Map(sides.map((side) => [side, load(side.socket, 2)])); // JIT, caches

if (args.profile) {
  const requests = new Map<Side, number>();
  for (const side of sides) requests.set(side, load(side.socket, SECONDS));
  for (const side of sides) await stop(side);
  for (const side of sides) report(side, requests.get(side)! + warm.get(side)!);
} else {
  const perRequest = new Map<Side, number[]>(sides.map((s) => [s, []]));
  for (let round = 0; round < Number(args.rounds); round++) {
    const line: string[] = [];
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const before = cpuSeconds(side.child.pid!);
      const done = load(side.socket, SECONDS);
      const us = ((cpuSeconds(side.child.pid!) - before) * 1e6) / done;
      perRequest.get(side)!.push(us);
      line.push(`${side.name} ${us.toFixed(1)} µs (${(done / SECONDS).toFixed(0)} rps)`);
    }
    console.log(`round ${round + 1} load ${loadavg()[0]!.toFixed(1)}: ${line.join('  ')}`);
  }
  for (const side of sides) {
    const us = [...perRequest.get(side)!].sort((a, b) => a - b);
    console.log(`${side.name.padEnd(20)} median ${us[Math.floor(us.length / 2)]!.toFixed(1)} µs/request  range ${us[0]!.toFixed(1)}–${us.at(-1)!.toFixed(1)}`);
  }
  for (const side of sides) await stop(side);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

function category(url: string, fn: string): string | undefined {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)' || fn === '(idle)' || fn === '(root)') return fn;
  if (url === '') return undefined;
  if (url.includes('@grpc/grpc-js')) return 'grpc-js';
  if (url.includes('node_modules/')) return `dep ${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1]}`;
  if (url.startsWith('node:internal/http2') || url === 'node:http2') return 'node http2';
  if (url.startsWith('node:internal/stream') || url.startsWith('node:internal/streams') || url === 'node:stream') return 'node streams';
  if (url.startsWith('node:')) return 'node other';
  return 'ours';
}

function report(side: Side, requests: number): void {
  const file = readdirSync(side.profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`${side.name}: no profile written`);
  if (args.keep) cpSync(join(side.profileDir, file), join(args.keep, `${side.name.replace(/\W+/g, '_')}.cpuprofile`));
  const profile = JSON.parse(readFileSync(join(side.profileDir, file), 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Start-up is not a Check's: samples count from the first one under the codec (both
  // servers decode with it), the warm-up load included.
  const underCodec = (id: number): boolean => {
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) if (byId.get(n)!.callFrame.url.endsWith('envoy/codec.ts')) return true;
    return false;
  };
  const first = profile.samples.findIndex(underCodec);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    if (i >= first) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  const ourFiles = new Map<string, number>();
  for (const [id, us] of self) {
    let node = byId.get(id)!;
    let cat = category(node.callFrame.url, node.callFrame.functionName);
    // A native frame (no url) counts for whoever called it.
    while (cat === undefined && parent.has(node.id)) {
      node = byId.get(parent.get(node.id)!)!;
      cat = category(node.callFrame.url, node.callFrame.functionName);
    }
    cat ??= 'native';
    categories.set(cat, (categories.get(cat) ?? 0) + us);
    const own = byId.get(id)!.callFrame;
    const key = `${own.functionName || '(anonymous)'} ${own.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${own.lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    if (cat === 'ours') {
      const f = node.callFrame.url.replace(/^.*\/src\//, 'src/');
      ourFiles.set(f, (ourFiles.get(f) ?? 0) + us);
    }
  }
  const busy = [...categories].filter(([c]) => c !== '(idle)').reduce((s, [, us]) => s + us, 0);
  console.log(`\n${side.name}: ${requests} requests in ${SECONDS} s, ${(busy / requests).toFixed(1)} µs sampled busy time per request (from the first Check on)`);
  for (const [c, us] of [...categories].sort((a, b) => b[1] - a[1])) console.log(`  ${c.padEnd(22)} ${(us / requests).toFixed(2).padStart(7)} µs/req  ${((100 * us) / busy).toFixed(1)}%`);
  console.log('  ours by file:');
  for (const [f, us] of [...ourFiles].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`    ${f.padEnd(40)} ${(us / requests).toFixed(2)} µs/req`);
  console.log('  top self time:');
  for (const [f, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`    ${(us / requests).toFixed(2).padStart(6)} µs/req  ${f}`);
}
