/**
 * `keybroker limits show|set|reset`: the operator's view of rate limits and budgets, read
 * from and written to the same store the running keybrokers count in (Redis). Overrides
 * and resets are recorded with who made them, in the store's audit stream and on stdout.
 */
import { hostname, userInfo } from 'node:os';
import { loadConfigFile } from '../config/load.ts';
import { compileLimits, countersOf, limitsFor, subjectsOf, type CompiledLimits } from '../limit/compile.ts';
import { formatUsd, parseUsd } from '../limit/money.ts';
import { RedisLimitStore } from '../limit/redis-store.ts';
import type { LimitRuleConfig } from '../limit/schema.ts';
import type { Metric } from '../limit/types.ts';
import { compileTeams, teamsOf } from '../policy/teams.ts';
import { EXIT, parseOptions, required, UsageError, type Command, type Io } from './command.ts';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  limit: { type: 'string' },
  identity: { type: 'string' },
  team: { type: 'string' },
  person: { type: 'string' },
  tenant: { type: 'boolean', default: false },
  requests: { type: 'string' },
  'input-tokens': { type: 'string' },
  'output-tokens': { type: 'string' },
  'total-tokens': { type: 'string' },
  'cost-usd': { type: 'string' },
  by: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

const METRIC_OPTIONS: ReadonlyArray<readonly [keyof typeof OPTIONS, Metric]> = [
  ['requests', 'requests'],
  ['input-tokens', 'input_tokens'],
  ['output-tokens', 'output_tokens'],
  ['total-tokens', 'total_tokens'],
  ['cost-usd', 'cost_usd'],
];

export const limitsCommand: Command = {
  name: 'limits',
  summary: 'current use and remaining budget per limit; runtime overrides and resets (Redis store)',
  help: `usage: keybroker limits show  -c FILE [--identity SPIFFE_ID] [--json]
       keybroker limits set   -c FILE --limit ID WHO (--requests N | --input-tokens N | --output-tokens N | --total-tokens N | --cost-usd USD) [--by NAME]
       keybroker limits reset -c FILE --limit ID WHO [--by NAME]

Reads and writes the counters the running keybrokers share (limits.store: redis; the
memory store lives inside each keybroker process and cannot be reached from here).

  show    each limit: its counters (for --identity: the identity's own, its teams' and
          the tenant's), used, limit, remaining, and whether an override applies
  set     replaces one counter's limit at runtime, for every replica: --requests N is N
          per the rule's period with a burst of N; tokens and USD per the rule's window
  reset   forgets the counter's use in the current window and removes its overrides

WHO names the counter as the limit keys it (its "per"): --identity SPIFFE_ID,
--team NAME, --person SUB or --tenant.

  -c, --config FILE   the keybroker configuration (its limits: and teams:)
  --by NAME           who is acting, recorded with the change (default: the login name)
  --json              machine-readable output
  -h, --help          this text

set and reset print one audit line (JSON) and append it to the store's audit stream,
from which one running keybroker writes it into the decision log.
exit codes: 0 done; 1 store unreachable or configuration error; 2 usage`,
  async run(args, io) {
    const [action, ...rest] = args;
    if (action !== 'show' && action !== 'set' && action !== 'reset') throw new UsageError(`expected show, set or reset, got ${action === undefined ? 'nothing' : `"${action}"`}`);
    const values = parseOptions(rest, OPTIONS);
    required(values, 'config');
    const { config } = loadConfigFile(values.config);
    const limits = config.limits;
    if (!limits || limits.rules.length === 0) {
      io.err(`${values.config}: no limits are configured (limits.rules)`);
      return EXIT.error;
    }
    if (limits.store === 'memory') {
      io.err(`${values.config}: limits.store is memory, which lives inside each keybroker process; limits ${action} needs limits.store: { redis: ... }`);
      return EXIT.error;
    }
    const store = new RedisLimitStore(limits.store.redis);
    try {
      if (!(await store.ready(limits.store.redis.connectTimeout))) {
        io.err(`limit store ${limits.store.redis.url} is unreachable`);
        return EXIT.error;
      }
      const compiled = compileLimits(limits);
      if (action === 'show') return await show(store, compiled, config.teams, values, io);
      return await change(action, store, compiled, values, io);
    } finally {
      await store.close();
    }
  },
};

type Values = ReturnType<typeof parseOptions<typeof OPTIONS>>;

const ESTIMATE_NONE = { inputTokens: 0, outputTokens: 0, costMicros: 0 };

async function show(store: RedisLimitStore, compiled: CompiledLimits, teams: Record<string, string[]>, values: Values, io: Io): Promise<number> {
  const now = Date.now();
  const rows: Array<{ limit: string; subject: string; metric: Metric; used: string; limit_value: string; remaining: string; resets?: string; overridden: boolean }> = [];
  const identity = values.identity;
  const specs: Array<{ spec: LimitRuleConfig; subjects: string[] }> = [];
  if (identity) {
    const subject = { identity, teams: teamsOf(compileTeams(teams), identity), destination: '' };
    // Every destination and model: what would apply to any request of this identity.
    for (const limit of compiled.limits) {
      const scoped = limitsFor({ ...compiled, limits: [{ ...limit, destinations: null, models: null, groups: null }] }, subject);
      if (scoped.length > 0) specs.push({ spec: limit.spec, subjects: subjectsOf(limit, subject).filter((s) => !s.startsWith('person:')) });
    }
  } else {
    for (const limit of compiled.limits)
      specs.push({ spec: limit.spec, subjects: limit.spec.per === 'tenant' ? ['tenant'] : limit.spec.per === 'team' ? (limit.spec.teams ?? []).map((t) => `team:${t}`) : [] });
  }
  for (const { spec, subjects } of specs) {
    for (const subject of subjects) {
      const counters = countersOf(compiled.prefix, spec, subject, ESTIMATE_NONE, now);
      const states = await store.read(counters, now);
      counters.forEach((counter, i) => {
        const state = states[i]!;
        const money = counter.metric === 'cost_usd';
        const show = (n: number) => (money ? formatUsd(n) : String(n));
        rows.push({
          limit: spec.id,
          subject,
          metric: counter.metric,
          used: show(state.used),
          limit_value: show(state.limit),
          remaining: show(state.remaining),
          ...(counter.kind === 'window' ? { resets: new Date(counter.end).toISOString() } : {}),
          overridden: state.overridden,
        });
      });
    }
  }
  if (values.json) {
    io.out(JSON.stringify({ rows }));
    return EXIT.ok;
  }
  if (!identity) io.out("limits keyed per identity or person: pass --identity SPIFFE_ID to see one identity's counters");
  io.out(['limit', 'subject', 'metric', 'used', 'limit', 'remaining', 'window ends'].join('\t'));
  for (const r of rows) io.out([r.limit, r.subject, r.metric, r.used, `${r.limit_value}${r.overridden ? ' (override)' : ''}`, r.remaining, r.resets ?? '-'].join('\t'));
  return EXIT.ok;
}

async function change(action: 'set' | 'reset', store: RedisLimitStore, compiled: CompiledLimits, values: Values, io: Io): Promise<number> {
  required(values, 'limit');
  const spec = compiled.config.rules.find((r) => r.id === values.limit);
  if (!spec) throw new UsageError(`unknown limit "${values.limit}"; configured: ${compiled.config.rules.map((r) => r.id).join(', ')}`);
  const subject = subjectOf(spec, values);
  const counters = countersOf(compiled.prefix, spec, subject, ESTIMATE_NONE, Date.now());
  const by = values.by ?? process.env['SUDO_USER'] ?? userInfo().username;
  const entry: Record<string, string> = { action: `limits ${action}`, limit: spec.id, subject, by, host: hostname(), at: new Date().toISOString() };
  if (action === 'set') {
    const given = METRIC_OPTIONS.filter(([option]) => values[option] !== undefined);
    if (given.length !== 1) throw new UsageError('give exactly one of --requests, --input-tokens, --output-tokens, --total-tokens, --cost-usd');
    const [option, metric] = given[0]!;
    const counter = counters.find((c) => c.metric === metric);
    if (!counter) throw new UsageError(`limit "${spec.id}" has no ${metric.replace('_', ' ')} counter`);
    const text = String(values[option]);
    const value = metric === 'cost_usd' ? parseUsd(text) : /^\d{1,15}$/.test(text) && Number(text) > 0 ? Number(text) : undefined;
    if (value === undefined) throw new UsageError(`--${option}: expected ${metric === 'cost_usd' ? 'US dollars such as "250.00"' : 'a whole number of at least 1'}, got "${text}"`);
    await store.setOverride(counter.override, value);
    // Not `value`: the process log redacts fields of that name (src/lib/logger.ts).
    Object.assign(entry, { metric, newLimit: text });
  } else {
    for (const counter of counters) await store.setOverride(counter.override, undefined);
    await store.reset(counters);
  }
  await store.note(entry);
  io.out(JSON.stringify({ level: 30, time: Date.now(), service: 'keybroker', msg: `limit ${action === 'set' ? 'override set' : 'reset'}`, audit: entry }));
  return EXIT.ok;
}

/** The counter's key, as the limit keys it; a flag that does not fit the limit's `per` is a usage error. */
function subjectOf(spec: LimitRuleConfig, values: Values): string {
  const given = [values.identity && `identity:${values.identity}`, values.team && `team:${values.team}`, values.person && `person:${values.person}`, values.tenant && 'tenant'].filter(
    Boolean,
  ) as string[];
  if (given.length !== 1) throw new UsageError('name the counter with exactly one of --identity, --team, --person, --tenant');
  const subject = given[0]!;
  const kind = subject.split(':')[0];
  if (kind !== spec.per) throw new UsageError(`limit "${spec.id}" counts per ${spec.per}: name the counter with --${spec.per}`);
  if (spec.per === 'team' && !spec.teams?.includes(values.team!)) throw new UsageError(`limit "${spec.id}" applies to teams ${spec.teams?.join(', ')}, not "${values.team}"`);
  return subject;
}
