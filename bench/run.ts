/**
 * `npm run bench`: keybroker's Check under load, beside a baseline measured in the same
 * run — a bare @grpc/grpc-js Authorization server on the same proto stack.
 *
 * Each server runs in its own process on a Unix socket; the load comes from another
 * process: h2load (Debian's nghttp2-client) with a pre-encoded gRPC request. Real Envoy
 * and Jaeger join for the hop and audit-export scenarios (started as the tests start
 * them). Everything is loopback-only and bounded in time. Prints a table of throughput,
 * latency percentiles, peak RSS and each scenario's ratio to the baseline, then the
 * targets measured as pairs (two servers loaded in alternating rounds, see pair()).
 *
 *   node bench/run.ts [--quick] [--seconds N] [--soak]
 *   node bench/run.ts --pair A:B[@RPS] [--pair …] [--rounds N] [--seconds N]   (pairs only)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { connect as connectHttp2 } from 'node:http2';
import { connect as connectSocket } from 'node:net';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { authorizationService } from '../src/envoy/proto.ts';
import { CHECK_PATH } from '../src/envoy/codec.ts';
import { median, percentiles, type Percentiles } from './stats.ts';
import { renderTemplate } from '../envoy/render.ts';
import { freePort } from '../test/helpers/envoy.ts';
import { jaegerPorts, startJaeger } from '../test/helpers/jaeger.ts';
import { poll } from '../test/helpers/poll.ts';
import { createCa } from '../scripts/dev-pki.ts';
import { availableCpus } from '../src/server/workers.ts';
import { startRedis, type RunningRedis } from '../test/helpers/redis.ts';
import { startTokenEndpoint } from '../test/helpers/token-endpoint.ts';
import { BODY_CONDITIONS, CHAT_BODY } from './a-fixture.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    soak: { type: 'boolean', default: false },
    pair: { type: 'string', multiple: true },
    rounds: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds ?? (args.quick ? 1 : 5));
const CLIENTS = 8;
const STREAMS = 8;
const dir = mkdtempSync(join(tmpdir(), 'keybroker-bench-'));
// Fixtures, sockets and h2load logs go with the run, whichever way it ends.
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

interface Row extends Partial<Percentiles> {
  scenario: string;
  rps: number;
  rssMb: number;
  /** The server's CPU time (all its processes, user + system) per request answered. */
  cpuUs?: number;
  note?: string;
  baseline?: Row;
}

// ---------------------------------------------------------------- fixtures

const signing = await generateKeyPair('ES256', { extractable: true });
const kid = 'bench-es256';
const privateJwk = { ...(await exportJWK(signing.privateKey)), kid, alg: 'ES256' };
writeFileSync(join(dir, 'signing-key.jwk'), JSON.stringify(privateJwk));
writeFileSync(join(dir, 'bundle.jwks'), JSON.stringify({ keys: [{ ...(await exportJWK(signing.publicKey)), kid, alg: 'ES256' }] }));
writeFileSync(join(dir, 'keys.yaml'), 'openai/prod: sk-bench-not-a-real-key\n', { mode: 0o600 });
chmodSync(join(dir, 'keys.yaml'), 0o600);
// The agent's X.509-SVID: Envoy passes it URL-encoded with the principal (include_peer_certificate).
const svid = createCa('bench', dir).issue('research', { uris: ['spiffe://bench.local/agent/research'] });
const now = Math.floor(Date.now() / 1000);
const warmToken = await new SignJWT({})
  .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
  .setSubject('spiffe://bench.local/agent/research')
  .setAudience('keybroker')
  .setIssuedAt(now)
  .setExpirationTime(now + 1800)
  .sign(signing.privateKey);

function writeConfig(name: string, grants: number, extra: Record<string, unknown> = {}, inspect = false, extraRules: unknown[] = []): string {
  const policy = Array.from({ length: grants - 1 }, (_, i) => ({
    id: `filler-${i}`,
    identities: [`spiffe://bench.local/team-${i % 97}/agent-${i}`],
    destinations: ['openai'],
    methods: ['POST'],
    paths: ['/v1/chat/completions'],
  }));
  policy.push({
    id: 'research',
    identities: ['spiffe://bench.local/agent/research'],
    destinations: ['openai'],
    methods: ['POST'],
    paths: ['/v1/chat/completions', '/v1/embeddings'],
    ...(inspect ? BODY_CONDITIONS : {}),
  });
  policy.push(...(extraRules as typeof policy));
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      listen: `unix://${join(dir, `${name}.sock`)}`,
      trust: { 'bench.local': { bundle: { file: join(dir, 'bundle.jwks') }, audiences: ['keybroker'], maxTokenLifetime: '1h' } },
      keys: { store: 'file', file: join(dir, 'keys.yaml') },
      destinations: { openai: { upstream: 'api.openai.com', authorities: ['gateway.local'], routePrefix: '/openai', inject: 'openai', key: 'openai/prod', ...(inspect ? { api: 'openai' } : {}) } },
      policy,
      ...extra,
    }),
  );
  return file;
}

/** A CheckRequest as Envoy sends it, gRPC-framed (5-byte prefix), for h2load's -d. */
function encodeRequest(name: string, shape: { principal?: string; certificate?: string; token?: string; path?: string; body?: Buffer }): string {
  const message = authorizationService()['Check']!.requestSerialize({
    attributes: {
      source: { principal: shape.principal ?? '', ...(shape.certificate ? { certificate: encodeURIComponent(shape.certificate) } : {}) },
      request: {
        http: {
          id: '1',
          method: 'POST',
          path: shape.path ?? '/openai/v1/chat/completions',
          host: 'gateway.local',
          headers: {
            ':method': 'POST',
            ':path': shape.path ?? '/openai/v1/chat/completions',
            ':authority': 'gateway.local',
            ':scheme': 'https',
            'content-type': 'application/json',
            'user-agent': 'OpenAI/Python 1.54.0',
            'x-request-id': '0f9c4b2e-5a8d-4c1e-9b7a-3d2e1f0a9b8c',
            ...(shape.token ? { authorization: `Bearer ${shape.token}` } : {}),
            ...(shape.body ? { 'content-length': String(shape.body.length), 'x-envoy-auth-partial-body': 'false' } : {}),
          },
          ...(shape.body ? { raw_body: shape.body } : {}),
        },
      },
      context_extensions: { destination: 'openai' },
    },
  });
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  const file = join(dir, `${name}.bin`);
  writeFileSync(file, frame);
  return file;
}

// ---------------------------------------------------------------- processes

interface Server {
  child: ChildProcess;
  socket: string;
  stop(): Promise<void>;
  peakRssMb(): number;
  /** CPU seconds (user + system) used so far by the server and its worker processes. */
  cpuSeconds(): number;
}

const CLOCK_TICKS = 100;

/** utime + stime of a process, in seconds, or 0 once it is gone; and its parent's pid. */
function procStat(pid: number | string): { cpu: number; ppid: number } {
  try {
    // The command name (field 2) may hold spaces: fields are counted after its ')'.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { cpu: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS, ppid: Number(fields[1]) };
  } catch {
    return { cpu: 0, ppid: 0 };
  }
}

/** The process and its children (serve --workers forks its workers from the primary). */
function cpuOfTree(pid: number): number {
  let total = procStat(pid).cpu;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry);
    if (stat.ppid === pid) total += stat.cpu;
  }
  return total;
}

async function startServer(kind: 'baseline' | string, name: string, workers = 1): Promise<Server> {
  const socket = join(dir, `${name}.sock`);
  // The wait below is for this server's socket: one left by an earlier run of the same
  // name would let the load start before anything listens ("client could not connect").
  rmSync(socket, { force: true });
  const args = kind === 'baseline' ? [join(ROOT, 'bench/baseline-server.ts'), `unix://${socket}`] : [join(ROOT, 'src/cli/main.ts'), 'serve', '-c', kind, '--workers', String(workers)];
  // The decision log stays on, as in production; its lines go to /dev/null.
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, UV_THREADPOOL_SIZE: process.env['UV_THREADPOOL_SIZE'] ?? '4' } });
  // Generous: on a loaded machine a cold start takes seconds; the load itself is bounded below.
  const deadline = Date.now() + 60_000;
  while (!existsSync(socket)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${name} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    socket,
    peakRssMb: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    },
    cpuSeconds: () => cpuOfTree(child.pid!),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        // SIGINT: stop at once (SIGTERM would first wait out the drain delay).
        child.kill('SIGINT');
      }),
  };
}

/**
 * Sends the pre-encoded request once over HTTP/2 and returns the gRPC status from the
 * trailers, which h2load does not report: a load of fast errors must not pass for speed.
 */
function grpcStatusOf(socket: string, requestFile: string): Promise<{ status: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2('http://localhost', { createConnection: () => connectSocket(socket) });
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let status = 'none';
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', (trailers) => (status = String(trailers['grpc-status'])));
    stream.on('end', () => {
      session.close();
      resolve({ status, body: Buffer.concat(chunks) });
    });
    stream.on('error', reject);
    stream.end(readFileSync(requestFile));
  });
}

function h2load(
  socket: string,
  requestFile: string,
  options: { seconds: number; clients: number; streams: number; rps?: number; warmUp?: boolean },
): { rps: number; latencies: number[]; failed: number } {
  const log = join(dir, `h2load-${Date.now()}.log`);
  const argv = [
    '-B',
    `unix:${socket}`,
    '-D',
    String(options.seconds),
    ...(options.warmUp === false ? [] : ['--warm-up-time', '1']),
    '-c',
    String(options.clients),
    '-m',
    String(options.streams),
    '-t',
    '1',
    '-d',
    requestFile,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    `--log-file=${log}`,
    ...(options.rps ? ['--rps', String(options.rps)] : []),
    `http://localhost${CHECK_PATH}`,
  ];
  return runH2load(argv, log, options.seconds);
}

/**
 * HTTP load (not gRPC); statuses other than 200 count as failed. Shapes: one request at a
 * time, as fast as they complete; a rate from 10 connections (their timers fire together:
 * bursts of 10). The paced rate comes from pacedHttpLoad.
 */
type HttpLoad = { shape: 'serial' } | { shape: 'bursts'; rps: number };

function h2loadHttp(url: string, bodyFile: string, headers: string[], load: HttpLoad): { rps: number; latencies: number[]; failed: number } {
  const log = join(dir, `h2load-http-${Date.now()}.log`);
  const shape = load.shape === 'serial' ? ['-c', '1', '-m', '1'] : ['-c', '10', '-m', '1', '--rps', String(load.rps / 10)];
  return runH2load(['-D', String(SECONDS), '--warm-up-time', '1', ...shape, '-t', '1', '-d', bodyFile, ...headers.flatMap((h) => ['-H', h]), `--log-file=${log}`, url], log, SECONDS);
}

/**
 * Runs h2load (bounded by its own -D and a timeout) and reads its per-request log:
 * throughput from its summary, latencies (µs) of the 200s, the rest counted as failed.
 */
function runH2load(argv: string[], log: string, seconds: number): { rps: number; latencies: number[]; failed: number } {
  const out = execFileSync('h2load', argv, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const rows = logRows(log);
  const latencies = okLatencies(rows);
  const finished = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(out);
  return { rps: Number(finished?.[3] ?? 0), latencies, failed: rows.length - latencies.length };
}

/** h2load's per-request log: start time, status, microseconds to the end of the response. */
function logRows(log: string): string[][] {
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
}

/** Latencies (µs) of the requests logged with status 200. */
function okLatencies(rows: string[][]): number[] {
  return rows.filter((r) => r[1] === '200').map((r) => Number(r[2]));
}

// ---------------------------------------------------------------- scenarios

/**
 * µs of server CPU per request. h2load reports the rate after its 1 s warm-up, while the
 * CPU is read around the whole run, warm-up included: the requests are counted at the
 * measured rate over both. Less noisy than req/s on shared cores, since the load
 * generator's share of the CPU does not enter it.
 */
function cpuPerRequest(cpuSeconds: number, rps: number): number {
  return rps > 0 ? (cpuSeconds * 1e6) / (rps * (SECONDS + 1)) : NaN;
}

const rows: Row[] = [];
const fmt = (n: number | undefined, digits = 2) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));

async function measure(scenario: string, server: 'baseline' | string, requestFile: string, options: { rps?: number; baseline?: Row; workers?: number } = {}): Promise<Row> {
  const name = scenario.replace(/\W+/g, '-');
  const running = await startServer(server, server === 'baseline' ? 'baseline' : name.length > 0 ? (/([^/]+)\.yaml$/.exec(server)?.[1] ?? name) : name, options.workers);
  try {
    const cpuBefore = running.cpuSeconds();
    const result = h2load(running.socket, requestFile, {
      seconds: SECONDS,
      clients: options.rps ? 10 : CLIENTS,
      streams: options.rps ? 1 : STREAMS,
      ...(options.rps ? { rps: options.rps / 10 } : {}),
    });
    const row: Row = {
      scenario,
      rps: result.rps,
      ...percentiles(result.latencies),
      rssMb: running.peakRssMb(),
      cpuUs: cpuPerRequest(running.cpuSeconds() - cpuBefore, result.rps),
      ...(result.failed ? { note: `${result.failed} unfinished or failed` } : {}),
      ...(options.baseline ? { baseline: options.baseline } : {}),
    };
    rows.push(row);
    return row;
  } finally {
    await running.stop();
  }
}

const mtlsRequest = encodeRequest('mtls', { principal: 'spiffe://bench.local/agent/research', certificate: svid.cert });
const jwtRequest = encodeRequest('jwt', { token: warmToken });
const deniedRequest = encodeRequest('denied', { principal: 'spiffe://bench.local/agent/intern' });
// (h): the 2 KB chat completion, as Envoy sends it on a route with with_request_body (raw_body).
const chatBody = CHAT_BODY;
const bodyRequest = encodeRequest('mtls-body', { principal: 'spiffe://bench.local/agent/research', certificate: svid.cert, body: chatBody });

const config10 = writeConfig('grants-10', 10);
const configInspect = writeConfig('grants-10-inspect', 10, {}, true);
const config1000 = writeConfig('grants-1000', 1000);
const config10000 = writeConfig('grants-10000', 10_000);
const configNoCache = writeConfig('no-token-cache', 10, { tokens: { cacheEntries: 0 } });
// (s): 100 shadow rules, one of which would deny research: every Check evaluates policy
// again with them and records the disagreement.
const shadowRules = Array.from({ length: 100 }, (_, i) =>
  i === 0
    ? { id: 'shadow-deny-research', mode: 'shadow', effect: 'deny', identities: ['spiffe://bench.local/agent/research'], destinations: ['openai'] }
    : { id: `shadow-${i}`, mode: 'shadow', identities: [`spiffe://bench.local/team-${i % 97}/*`], destinations: ['openai'], methods: ['POST'], paths: ['/v1/*'] },
);
const configShadow = writeConfig('shadow-100', 10, {}, false, shadowRules);

// ---------------------------------------------------------------- paired comparisons

/**
 * The targets compare two scenarios (h against (a), a limit against (a), (a) against the
 * baseline). Rows measured one after another on these shared cores differ by more than
 * the targets allow: the host takes CPU from the VM in spells, so a later row can come out
 * slower for doing the same work. A pair instead runs both servers at once and loads them
 * in alternating rounds (A B, B A, A B …), so each round's two figures are taken under
 * the same conditions; the report is the median of the per-round ratios, with their
 * range. CPU per request is the server's own (from /proc) over the requests h2load
 * logged, which leaves the load generator's share out.
 */
interface PairSide {
  readonly label: string;
  readonly server: 'baseline' | string;
  readonly request: string;
  readonly workers?: number;
}

let pairRedis: RunningRedis | undefined;
const identities = ['spiffe://bench.local/agent/research'];
const configMemoryLimit = writeConfig('limit-memory', 10, { limits: { rules: [{ id: 'bench-rate', identities, per: 'identity', requests: { rate: 1_000_000_000, per: '1s' } }] } });
/** The Redis-store budget of row (l), against `url`; written once Redis runs. */
const redisLimitConfig = (url: string) =>
  writeConfig('limit-redis', 10, {
    limits: {
      store: { redis: { url, prefix: 'bench:', timeout: '500ms' } },
      rules: [{ id: 'bench-budget', identities, per: 'identity', tokens: { total: 1_000_000_000_000, per: '1d' }, costUsd: { max: '1000000000.00', per: '1d' } }],
    },
  });

const PAIR_SIDES: Record<string, () => Promise<PairSide>> = {
  baseline: async () => ({ label: 'baseline', server: 'baseline', request: mtlsRequest }),
  a: async () => ({ label: '(a)', server: config10, request: mtlsRequest }),
  b: async () => ({ label: '(b)', server: config10, request: jwtRequest }),
  d: async () => ({ label: '(d) denied', server: config10, request: deniedRequest }),
  s: async () => ({ label: '(s) 100 shadow rules', server: configShadow, request: mtlsRequest }),
  h: async () => ({ label: '(h) 2 KB body inspected', server: configInspect, request: bodyRequest }),
  hn: async () => ({ label: '(h) 2 KB body, no body rules', server: config10, request: bodyRequest }),
  lm: async () => ({ label: '(l) memory-store rate limit', server: configMemoryLimit, request: mtlsRequest }),
  lr: async () => {
    pairRedis ??= await startRedis();
    return { label: '(l) Redis-store budget', server: redisLimitConfig(pairRedis.url), request: mtlsRequest };
  },
  w2: async () => ({ label: '(a) with 2 workers', server: config10, request: mtlsRequest, workers: 2 }),
};

interface PairRound {
  readonly cpuUs: [number, number];
  readonly rps: [number, number];
  readonly p50: [number, number];
  readonly p999: [number, number];
}

/**
 * `spec` is `A:B` (closed loop, as the rows) or `A:B@RPS` (paced, 10 connections, for
 * latency at a rate). Both servers are started, warmed, then loaded in turns.
 */
async function pair(spec: string, rounds: number): Promise<string> {
  const match = /^(\w+):(\w+)(?:@(\d+))?$/.exec(spec);
  const [aKey, bKey, rate] = [match?.[1] ?? '', match?.[2] ?? '', match?.[3]];
  const makeA = PAIR_SIDES[aKey];
  const makeB = PAIR_SIDES[bKey];
  if (!makeA || !makeB) throw new Error(`--pair ${spec}: expected A:B or A:B@RPS with A and B among ${Object.keys(PAIR_SIDES).join(', ')}`);
  const sides = [await makeA(), await makeB()] as const;
  // Each side listens on a socket of its own, though both may share one configuration.
  const start = (side: PairSide, name: string) => {
    if (side.server === 'baseline') return startServer('baseline', name, side.workers);
    const config = join(dir, `${name}.yaml`);
    writeFileSync(config, readFileSync(side.server, 'utf8').replace(/^listen: .*$/m, `listen: unix://${join(dir, `${name}.sock`)}`));
    return startServer(config, name, side.workers);
  };
  const first = await start(sides[0], `pair-a-${aKey}`);
  const second = await start(sides[1], `pair-b-${bKey}`).catch(async (error: unknown) => {
    await first.stop();
    throw error;
  });
  const servers = [first, second] as const;
  const rps = rate ? Number(rate) : undefined;
  const load = (i: 0 | 1, seconds: number) => {
    const before = servers[i].cpuSeconds();
    const result = h2load(servers[i].socket, sides[i].request, {
      seconds,
      clients: rps ? 10 : CLIENTS,
      streams: rps ? 1 : STREAMS,
      ...(rps ? { rps: rps / 10 } : {}),
      warmUp: false,
    });
    const answered = result.latencies.length + result.failed;
    return { cpuUs: ((servers[i].cpuSeconds() - before) * 1e6) / answered, rps: answered / seconds, ...percentiles(result.latencies) };
  };
  try {
    for (const i of [0, 1] as const) {
      const { status } = await grpcStatusOf(servers[i].socket, sides[i].request);
      if (status !== '0') throw new Error(`--pair ${spec}: ${sides[i].label} answered grpc-status ${status}`);
      load(i, 1); // warm: JIT, caches, connections
    }
    const measured: PairRound[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const);
      const got: Array<ReturnType<typeof load>> = [];
      for (const i of order) got[i] = load(i, SECONDS);
      const [x, y] = got as [ReturnType<typeof load>, ReturnType<typeof load>];
      measured.push({ cpuUs: [x.cpuUs, y.cpuUs], rps: [x.rps, y.rps], p50: [x.p50, y.p50], p999: [x.p999, y.p999] });
    }
    return describePair(sides[0].label, sides[1].label, rps, measured);
  } finally {
    await servers[0].stop();
    await servers[1].stop();
  }
}

function describePair(a: string, b: string, rps: number | undefined, rounds: PairRound[]): string {
  const summary = (values: number[], digits: number, unit = '') => `${fmt(median(values), digits)}${unit} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
  const ratio = (get: (r: PairRound) => [number, number]) =>
    summary(
      rounds.map((r) => get(r)[1] / get(r)[0]),
      2,
      '×',
    );
  const side = (i: 0 | 1) =>
    `${fmt(median(rounds.map((r) => r.cpuUs[i])), 0)} µs CPU/req, p50 ${fmt(median(rounds.map((r) => r.p50[i])), 3)} ms, p99.9 ${fmt(median(rounds.map((r) => r.p999[i])), 3)} ms`;
  const head = `${b} vs ${a}${rps ? ` at ${rps} rps` : ''}, ${rounds.length} round${rounds.length === 1 ? '' : 's'} of ${SECONDS} s in turns`;
  const measures = rps
    ? `p50 ${summary(
        rounds.map((r) => r.p50[1] - r.p50[0]),
        3,
        ' ms',
      )} added; CPU per request ${ratio((r) => r.cpuUs)}`
    : `throughput ${ratio((r) => r.rps)}; CPU per request ${ratio((r) => r.cpuUs)}`;
  return `- ${head}: ${measures}\n  - ${a}: ${side(0)}\n  - ${b}: ${side(1)}`;
}

if (args.pair) {
  // Only the pairs asked for: `node bench/run.ts --pair a:h --pair a:lr@1000 [--rounds 7]`.
  try {
    for (const spec of args.pair) console.log(await pair(spec, Number(args.rounds ?? 5)));
  } finally {
    await pairRedis?.stop();
  }
  process.exit(0);
}

// Verify once that each request gets the intended gRPC answer (h2load sees only HTTP 200).
{
  const server = await startServer(config10, 'grants-10');
  try {
    for (const [name, file, allowed] of [
      ['mTLS', mtlsRequest, true],
      ['JWT-SVID', jwtRequest, true],
      ['denied', deniedRequest, false],
      ['mTLS with a body, no body rules', bodyRequest, true],
    ] as const) {
      const { status, body } = await grpcStatusOf(server.socket, file);
      const response = authorizationService()['Check']!.responseDeserialize(body.subarray(5)) as { status?: { code?: number } };
      const decided = (response.status?.code ?? 0) === 0;
      if (status !== '0' || decided !== allowed) throw new Error(`${name} request: grpc-status ${status}, decision ${decided ? 'allow' : 'deny'}; the bench would measure the wrong thing`);
    }
  } finally {
    await server.stop();
  }
}

console.error(`keybroker bench: ${SECONDS} s per scenario, ${CLIENTS} connections × ${STREAMS} streams (closed loop) unless a rate is given; ${cpus().length} cores shared with the load generator`);
const baseline = await measure('baseline: bare grpc-js, constant OK', 'baseline', mtlsRequest);
const aRow = await measure('(a) mTLS principal and SVID, allowed', config10, mtlsRequest, { baseline });
await measure('(b) JWT-SVID, allowed, cache warm', config10, jwtRequest, { baseline });
await measure('(d) denied', config10, deniedRequest, { baseline });
await measure('(s) (a) with 100 shadow rules, one disagreeing (vs (a))', configShadow, mtlsRequest, { baseline: aRow });

// (w) (a) with several worker processes sharing the socket (serve --workers; h2load's 8
// connections are handed to the workers in turn). The load generator runs on the same
// cores, so the note gives the rate per worker beside the total.
for (const workers of [...new Set([2, availableCpus()])]) {
  const row = await measure(`(w) (a) with ${workers} workers`, config10, mtlsRequest, { baseline, workers });
  row.note = `${(row.rps / workers).toFixed(0)} req/s per worker, ${(row.rps / baseline.rps / workers).toFixed(2)}× baseline per worker; RSS of the supervising process${row.note ? `; ${row.note}` : ''}`;
}

// (g) (a) to a destination whose key is an OAuth2 client secret: keybroker exchanges it at a
// local token endpoint once, before the load (h2load runs synchronously, so this process's
// endpoint could not answer during it), and every measured Check is served the cached
// access token; the note says how many token requests the run made (1 expected).
{
  const endpoint = await startTokenEndpoint();
  const configOAuth2 = writeConfig('oauth2', 10, {
    destinations: {
      openai: {
        upstream: 'api.openai.com',
        authorities: ['gateway.local'],
        routePrefix: '/openai',
        key: 'openai/prod',
        inject: { oauth2: { tokenUrl: endpoint.url, clientId: 'keybroker-bench', scopes: ['bench'] } },
      },
    },
  });
  const server = await startServer(configOAuth2, 'oauth2');
  try {
    const { status } = await grpcStatusOf(server.socket, mtlsRequest);
    if (status !== '0' || endpoint.requests.length !== 1) throw new Error(`(g) warm-up: grpc-status ${status}, ${endpoint.requests.length} token requests`);
    const result = h2load(server.socket, mtlsRequest, { seconds: SECONDS, clients: CLIENTS, streams: STREAMS });
    rows.push({
      scenario: '(g) (a) with an OAuth2 access token, warm',
      rps: result.rps,
      ...percentiles(result.latencies),
      rssMb: server.peakRssMb(),
      baseline,
      note: `${(result.rps / aRow.rps).toFixed(2)}× (a); token requests ${endpoint.requests.length}${result.failed ? `; ${result.failed} unfinished or failed` : ''}`,
    });
  } finally {
    await server.stop();
    await endpoint.close();
  }
}

// (h) the body read: (a) with a 2 KB chat body a grant's models/maxOutputTokens/tools
// inspect, and the same body sent to a destination with no body rules (never parsed).
{
  const server = await startServer(configInspect, 'grants-10-inspect');
  try {
    const { status, body } = await grpcStatusOf(server.socket, bodyRequest);
    const response = authorizationService()['Check']!.responseDeserialize(body.subarray(5)) as { status?: { code?: number } };
    if (status !== '0' || (response.status?.code ?? 0) !== 0) throw new Error('(h): the body-inspected request is not allowed; the bench would measure the wrong thing');
  } finally {
    await server.stop();
  }
}
for (const [scenario, config] of [
  [`(h) (a) + ${chatBody.length} B chat body, inspected`, configInspect],
  [`(h) (a) + ${chatBody.length} B body, no body rules`, config10],
] as const) {
  const row = await measure(scenario, config, bodyRequest, { baseline });
  row.note = `${(aRow.rps / row.rps).toFixed(2)}× (a)'s time per Check${row.note ? `; ${row.note}` : ''}`;
}
if (!args.quick) {
  await measure('(e) 1,000 grants', config1000, mtlsRequest, { baseline });
  await measure('(e) 10,000 grants', config10000, mtlsRequest, { baseline });
}

// (l) (a) under a memory-store request rate limit, and under a token and cost budget
// counted in a real Redis (one script call per Check); both generous enough that every
// Check is allowed and reserves, so the rows measure the limit phase, not denials.
{
  const redis = await startRedis();
  const configRedis = redisLimitConfig(redis.url);
  const configMemory = configMemoryLimit;
  try {
    for (const [label, config] of [
      ['memory', configMemory],
      ['redis', configRedis],
    ] as const) {
      const server = await startServer(config, `limit-${label}`);
      try {
        const { status, body } = await grpcStatusOf(server.socket, mtlsRequest);
        const response = authorizationService()['Check']!.responseDeserialize(body.subarray(5)) as { status?: { code?: number } };
        if (status !== '0' || (response.status?.code ?? 0) !== 0) throw new Error(`limit ${label} warm-up: grpc-status ${status}, check status ${response.status?.code}`);
      } finally {
        await server.stop();
      }
    }
    const memoryRow = await measure('(l) (a) with a memory-store rate limit', configMemory, mtlsRequest, { baseline });
    memoryRow.note = `${(memoryRow.rps / aRow.rps).toFixed(2)}× (a)${memoryRow.note ? `; ${memoryRow.note}` : ''}`;
    const redisRow = await measure('(l) (a) with a Redis-store budget', configRedis, mtlsRequest, { baseline });
    redisRow.note = `${(redisRow.rps / aRow.rps).toFixed(2)}× (a)${redisRow.note ? `; ${redisRow.note}` : ''}`;
    const aAt1000 = await measure('(a) at 1,000 rps', config10, mtlsRequest, { rps: 1000 });
    const redisAt1000 = await measure('(l) Redis-store budget at 1,000 rps', configRedis, mtlsRequest, { rps: 1000 });
    const delta = (redisAt1000.p50 ?? NaN) - (aAt1000.p50 ?? NaN);
    redisAt1000.note = `p50 ${delta >= 0 ? '+' : ''}${delta.toFixed(3)} ms vs (a) at 1,000 rps${redisAt1000.note ? `; ${redisAt1000.note}` : ''}`;
  } finally {
    await redis.stop();
  }
}

const baselineRate = await measure('baseline at 2,000 rps', 'baseline', mtlsRequest, { rps: 2000 });
await measure('(a) at 2,000 rps', config10, mtlsRequest, { rps: 2000, baseline: baselineRate });

// (f) audit export on: (a) again with every decision exported as a span over OTLP gRPC to
// a real Jaeger; (a) above is the same with export off. keybroker's own counter says how
// many records were exported and how many the bounded queue dropped.
{
  const ports = await jaegerPorts();
  const jaeger = await startJaeger(dir, ports);
  const prometheusPort = await freePort();
  const configExport = writeConfig('audit-export', 10, {
    telemetry: { traces: { exporter: 'otlp', protocol: 'grpc', endpoint: `http://127.0.0.1:${ports.otlpGrpc}` }, metrics: { prometheus: { port: prometheusPort } } },
  });
  const server = await startServer(configExport, 'audit-export');
  try {
    const result = h2load(server.socket, mtlsRequest, { seconds: SECONDS, clients: CLIENTS, streams: STREAMS });
    await new Promise((r) => setTimeout(r, 2000)); // let the last batches leave
    const metrics = await (await fetch(`http://127.0.0.1:${prometheusPort}/metrics`)).text();
    const count = (kind: string) => Number(new RegExp(`keybroker_audit_records_total\\{[^}]*result="${kind}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? NaN);
    rows.push({
      scenario: '(f) (a) with audit export on (OTLP gRPC → Jaeger)',
      rps: result.rps,
      ...percentiles(result.latencies),
      rssMb: server.peakRssMb(),
      baseline,
      note: `${(result.rps / aRow.rps).toFixed(2)}× (a), export off; spans exported ${count('exported')}, dropped ${count('dropped')}${result.failed ? `; ${result.failed} unfinished or failed` : ''}`,
    });
  } finally {
    await server.stop();
    await jaeger.stop();
  }
}

// (c) every Check verifies the token: the cache is off, so each call costs what a cache
// miss costs (h2load sends one body, so "a new token every call" is had this way). The
// ceiling is jose.jwtVerify alone on the same token, in its own process, same concurrency.
{
  writeFileSync(join(dir, 'token.txt'), warmToken);
  const out = execFileSync(process.execPath, [join(ROOT, 'bench/jose-alone.ts'), join(dir, 'bundle.jwks'), join(dir, 'token.txt'), String(SECONDS), String(CLIENTS * STREAMS)], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: (SECONDS + 30) * 1000,
  });
  const jose = JSON.parse(out) as { rps: number };
  rows.push({ scenario: 'jose.jwtVerify alone (ES256)', rps: jose.rps, rssMb: NaN, note: 'the ceiling for (c)' });
  const row = await measure('(c) JWT-SVID, every call verified', configNoCache, jwtRequest);
  row.note = `${(row.rps / jose.rps).toFixed(2)}× jose alone${row.note ? `; ${row.note}` : ''}`;
}

// The Envoy hop: the same request through real Envoy to a local provider, with and without
// the ext_authz call to keybroker (and to the baseline server, the floor), at 1,000 rps.
const envoyBin = join(ROOT, '.tools/bin/envoy');
if (existsSync(envoyBin)) {
  // api: openai, so the metered listener's responses are metered (and priced).
  const hopConfig = writeConfig('envoy-hop', 10, {
    destinations: { openai: { upstream: 'api.openai.com', authorities: ['127.0.0.1'], routePrefix: '/openai', inject: 'openai', key: 'openai/prod', api: 'openai' } },
  });
  const keybroker = await startServer(hopConfig, 'envoy-hop');
  const floorServer = await startServer('baseline', 'envoy-floor');
  const [upstreamPort, adminPort, withPort, floorPort, withoutPort, meteredPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const upstream = spawn(process.execPath, [join(ROOT, 'bench/upstream-server.ts'), String(upstreamPort)], { stdio: 'ignore' });
  const envoyConfig = join(dir, 'envoy-hop.envoy.yaml');
  writeFileSync(
    envoyConfig,
    renderTemplate(readFileSync(join(ROOT, 'bench/envoy-hop.yaml'), 'utf8'), {
      ADMIN_PORT: adminPort,
      WITH_PORT: withPort,
      FLOOR_PORT: floorPort,
      WITHOUT_PORT: withoutPort,
      METERED_PORT: meteredPort,
      KEYBROKER_SOCKET: keybroker.socket,
      BASELINE_SOCKET: floorServer.socket,
      UPSTREAM_PORT: upstreamPort,
    }),
  );
  const envoy = spawn(envoyBin, ['-c', envoyConfig, '--concurrency', '1', '--use-dynamic-base-id', '--disable-hot-restart', '--log-level', 'error'], { stdio: 'ignore' });
  try {
    await poll(
      async () => {
        if (!(await fetch(`http://127.0.0.1:${adminPort}/ready`)).ok) throw new Error('Envoy is not ready');
      },
      { timeoutMs: 20_000 },
    );
    const body = join(dir, 'chat.json');
    writeFileSync(body, '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}');
    const headers = ['authorization: Bearer ' + warmToken, 'content-type: application/json'];
    const url = (port: number) => `http://127.0.0.1:${port}/openai/v1/chat/completions`;
    const added = (row: Row, p: 'p50' | 'p99', than: Row) => fmt((row[p] ?? NaN) - (than[p] ?? NaN), 3);
    h2loadHttp(url(meteredPort), body, headers, { shape: 'serial' }); // warm-up, unrecorded

    // "At 1,000 rps": an open-loop paced load from PACED_CONNECTIONS h2load processes, each
    // one connection with one request in flight at its share of the rate, started 1/rate
    // apart — no request waits behind another unless a round trip takes longer than
    // PACED_CONNECTIONS/rate (one connection alone could not keep pace once a round trip
    // takes over 1 ms). The four listeners are measured in alternating rounds on the same
    // Envoy and keybroker, so the machine's drift hits each alike; what one adds to another
    // is the median of the per-round differences, with their spread. keybroker's (and
    // Envoy's) CPU per request comes from /proc around each round; per metered response it
    // is the metered round's less the unmetered one's.
    const PACED_RPS = 1000;
    const PACED_CONNECTIONS = 8;
    const ROUNDS = args.quick ? 3 : 5;
    const paced = `${PACED_RPS} rps paced (${PACED_CONNECTIONS} connections, one in flight each)`;
    const sides = [
      { key: 'direct', port: withoutPort, scenario: `Envoy → provider, ${paced}` },
      { key: 'floor', port: floorPort, scenario: `Envoy → baseline → provider, ${paced}`, server: floorServer },
      { key: 'hop', port: withPort, scenario: `Envoy → keybroker → provider, ${paced}`, server: keybroker },
      { key: 'metered', port: meteredPort, scenario: `Envoy → keybroker → provider, ${paced}, with ext_proc metering`, server: keybroker },
    ] as const;
    type Side = (typeof sides)[number]['key'];
    type Measured = { p50: number; p99: number; cpuUs: number; envoyCpuUs: number };
    const rounds: Array<Record<Side, Measured>> = [];
    const all = Object.fromEntries(sides.map((s) => [s.key, { latencies: [] as number[], ok: 0, failed: 0 }])) as Record<Side, { latencies: number[]; ok: number; failed: number }>;
    for (let round = 0; round < ROUNDS; round++) {
      const measured = {} as Record<Side, Measured>;
      // Each round starts one listener further on: every side takes every position in turn.
      for (let i = 0; i < sides.length; i++) {
        const side = sides[(round + i) % sides.length]!;
        const cpuBefore = 'server' in side ? side.server.cpuSeconds() : NaN;
        const envoyBefore = procStat(envoy.pid!).cpu;
        const result = await pacedHttpLoad(url(side.port), body, headers, PACED_RPS, PACED_CONNECTIONS, SECONDS);
        // The last metering messages may reach keybroker after the agent's response.
        await new Promise((r) => setTimeout(r, 100));
        const cpu = 'server' in side ? side.server.cpuSeconds() - cpuBefore : NaN;
        const envoyCpu = procStat(envoy.pid!).cpu - envoyBefore;
        const p = percentiles(result.latencies);
        measured[side.key] = { p50: p.p50, p99: p.p99, cpuUs: (cpu * 1e6) / result.requests, envoyCpuUs: (envoyCpu * 1e6) / result.requests };
        all[side.key].latencies.push(...result.latencies);
        all[side.key].ok += result.latencies.length;
        all[side.key].failed += result.failed;
      }
      rounds.push(measured);
    }
    const perRound = (f: (r: Record<Side, Measured>) => number) => spread(rounds.map(f));
    const pacedRows = {} as Record<Side, Row>;
    for (const side of sides) {
      const { latencies, ok, failed } = all[side.key];
      const row: Row = { scenario: side.scenario, rps: ok / (ROUNDS * SECONDS), ...percentiles(latencies), rssMb: NaN, ...(failed ? { note: `${failed} not 200` } : {}) };
      if ('server' in side) row.cpuUs = perRound((r) => r[side.key].cpuUs).median;
      rows.push(row);
      pacedRows[side.key] = row;
    }
    const { floor, hop, metered } = pacedRows;
    const delta = (a: Side, b: Side, p: 'p50' | 'p99') => perRound((r) => r[a][p] - r[b][p]);
    const inRounds = `median of ${ROUNDS} alternating rounds`;
    floor.note = `the floor: adds ${delta('floor', 'direct', 'p50').text(3, 'ms')} at p50 (${inRounds})${floor.note ? `; ${floor.note}` : ''}`;
    hop.note = `the hop adds ${delta('hop', 'direct', 'p50').text(3, 'ms')} at p50, ${delta('hop', 'direct', 'p99').text(3, 'ms')} at p99 (${inRounds})${hop.note ? `; ${hop.note}` : ''}`;
    metered.note =
      `metering adds ${delta('metered', 'hop', 'p50').text(3, 'ms')} at p50, ${delta('metered', 'hop', 'p99').text(3, 'ms')} at p99 to the row without (${inRounds}); ` +
      `keybroker CPU per metered response ${perRound((r) => r.metered.cpuUs - r.hop.cpuUs).text(0, 'µs')}, ` +
      `Envoy's ${perRound((r) => r.metered.envoyCpuUs - r.hop.envoyCpuUs).text(0, 'µs')}${metered.note ? `; ${metered.note}` : ''}`;

    // Two more shapes, one row after another: h2load's rate timer fires all of 10
    // connections together (bursts of 10 that queue in Envoy and keybroker), and one
    // request at a time as fast as they complete.
    const through = (port: number, scenario: string, load: HttpLoad) => {
      const result = h2loadHttp(url(port), body, headers, load);
      const row: Row = { scenario, rps: result.rps, ...percentiles(result.latencies), rssMb: NaN, ...(result.failed ? { note: `${result.failed} not 200` } : {}) };
      rows.push(row);
      return row;
    };
    const loads: Array<[string, HttpLoad]> = [
      ['1000 rps in bursts of 10', { shape: 'bursts', rps: 1000 }],
      ['one at a time', { shape: 'serial' }],
    ];
    for (const [label, load] of loads) {
      const direct = through(withoutPort, `Envoy → provider, ${label}`, load);
      const floor = through(floorPort, `Envoy → baseline → provider, ${label}`, load);
      const cpuBefore = keybroker.cpuSeconds();
      const hop = through(withPort, `Envoy → keybroker → provider, ${label}`, load);
      hop.cpuUs = cpuPerRequest(keybroker.cpuSeconds() - cpuBefore, hop.rps);
      floor.note = `the floor: adds ${added(floor, 'p50', direct)} ms at p50${floor.note ? `; ${floor.note}` : ''}`;
      hop.note = `the hop adds ${added(hop, 'p50', direct)} ms at p50, ${added(hop, 'p99', direct)} ms at p99${hop.note ? `; ${hop.note}` : ''}`;
    }
  } finally {
    envoy.kill('SIGTERM');
    upstream.kill('SIGTERM');
    await keybroker.stop();
    await floorServer.stop();
  }
} else {
  rows.push({ scenario: 'Envoy hop', rps: NaN, rssMb: NaN, note: `skipped: no Envoy at ${envoyBin} (bash scripts/install-tools.sh)` });
}

/**
 * `connections` h2load processes, each one connection with one request in flight at
 * rps/connections, started 1/rps apart (each logs its own requests); statuses other than
 * 200 count as failed.
 */
async function pacedHttpLoad(
  target: string,
  bodyFile: string,
  headers: string[],
  rps: number,
  connections: number,
  seconds: number,
): Promise<{ requests: number; latencies: number[]; failed: number }> {
  const logs = Array.from({ length: connections }, (_, i) => join(dir, `h2load-paced-${Date.now()}-${i}.log`));
  await Promise.all(
    logs.map(async (log, i) => {
      await new Promise((r) => setTimeout(r, (i * 1000) / rps));
      const argv = ['-D', String(seconds), '-c', '1', '-m', '1', '--rps', String(rps / connections), '-t', '1', '-d', bodyFile, ...headers.flatMap((h) => ['-H', h]), `--log-file=${log}`, target];
      await new Promise<void>((resolve, reject) => {
        const load = spawn('h2load', argv, { stdio: 'ignore', timeout: (seconds + 30) * 1000 });
        load.on('error', reject);
        load.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`h2load exited ${code}`))));
      });
    }),
  );
  const logged = logs.flatMap((log) => logRows(log));
  const latencies = okLatencies(logged);
  return { requests: logged.length, latencies, failed: logged.length - latencies.length };
}

/** The median of per-round values and their range, as the notes print them. */
function spread(values: number[]): { median: number; text: (digits: number, unit: string) => string } {
  const middle = median(values);
  return { median: middle, text: (digits, unit) => `${fmt(middle, digits)} ${unit} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})` };
}

// --soak: two minutes at 2,000 rps, RSS sampled every 10 s; flat means < 10% growth.
if (args.soak) {
  const server = await startServer(config10, 'grants-10');
  const samples: number[] = [];
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const sampler = setInterval(() => samples.push(rss()), 10_000);
  try {
    const log = join(dir, 'soak.log');
    await new Promise<void>((resolve, reject) => {
      const load = spawn(
        'h2load',
        [
          '-B',
          `unix:${server.socket}`,
          '-D',
          '120',
          '-c',
          '10',
          '-m',
          '1',
          '-t',
          '1',
          '--rps',
          '200',
          '-d',
          mtlsRequest,
          '-H',
          'content-type: application/grpc',
          '-H',
          'te: trailers',
          `--log-file=${log}`,
          `http://localhost${CHECK_PATH}`,
        ],
        { stdio: 'ignore' },
      );
      load.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`h2load exited ${code}`))));
    });
    const latencies = okLatencies(logRows(log));
    const settled = samples.slice(1);
    const growth = settled.length > 1 ? ((settled.at(-1)! - settled[0]!) / settled[0]!) * 100 : NaN;
    rows.push({
      scenario: 'soak: (a) at 2,000 rps for 120 s',
      rps: latencies.length / 120,
      ...percentiles(latencies),
      rssMb: server.peakRssMb(),
      note: `RSS ${settled.map((m) => m.toFixed(0)).join('→')} MB: ${growth.toFixed(1)}% growth after the first 10 s`,
    });
  } finally {
    clearInterval(sampler);
    await server.stop();
  }
}

// ---------------------------------------------------------------- report

// The targets, each as a pair measured in turns (above); --quick runs one round of two.
const TARGET_PAIRS = args.quick ? ['baseline:a', 'a:h'] : ['baseline:a', 'baseline:b', 'a:h', 'a:hn', 'a:s', 'a:lm', 'a:lr', 'a:lr@1000', 'baseline:a@2000'];
const pairs: string[] = [];
try {
  for (const spec of TARGET_PAIRS) pairs.push(await pair(spec, Number(args.rounds ?? (args.quick ? 1 : 5))));
} finally {
  await pairRedis?.stop();
}

const header = ['scenario', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'CPU µs/req', 'peak RSS MB', 'vs baseline', 'note'];
const table = rows.map((r) => [
  r.scenario,
  fmt(r.rps, 0),
  fmt(r.p50, 3),
  fmt(r.p90, 3),
  fmt(r.p99, 3),
  fmt(r.p999, 3),
  fmt(r.cpuUs, 0),
  fmt(r.rssMb, 0),
  r.baseline ? `${(r.rps / r.baseline.rps).toFixed(2)}× rps, ${((r.p99 ?? NaN) / (r.baseline.p99 ?? NaN)).toFixed(2)}× p99` : '',
  r.note ?? '',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => String(row[i]).length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const row of table) console.log(line(row));
console.log('\nThe targets, measured in pairs (median of per-round figures, range in brackets):\n');
console.log(pairs.join('\n'));
