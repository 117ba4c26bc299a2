/**
 * Limits compiled once per runtime, and the plan for one request: every limit whose scope
 * covers the request contributes its counters; all of them must admit it (the tightest
 * wins). Pure: the clock and the store are the caller's.
 */
import { forEachAncestor } from '../policy/evaluate.ts';
import type { LimitRuleConfig, LimitsConfig } from './schema.ts';
import { windowAt, type WindowSpec } from './window.ts';
import type { BucketCounter, Counter, Metric, WindowCounter } from './types.ts';

interface CompiledLimit {
  readonly spec: LimitRuleConfig;
  readonly exactIdentities: ReadonlySet<string> | null;
  readonly identityPrefixes: ReadonlySet<string> | null;
  readonly teams: ReadonlySet<string> | null;
  readonly groups: ReadonlySet<string> | null;
  readonly destinations: ReadonlySet<string> | null;
  readonly models: readonly string[] | null;
  /**
   * Each subject's counters, built on its first request (key and override strings, the
   * bucket whole) and reused after: a Check under a limit then builds no strings. Keyed by
   * the identity, person, team name or '' (tenant), as the limit's `per` says.
   */
  readonly memo: Map<string, SubjectPlan>;
}

interface SubjectPlan {
  readonly bucket: BucketCounter | undefined;
  readonly windows: WindowPlan[];
}

interface WindowPlan {
  readonly limitId: string;
  readonly subject: string;
  readonly metric: Metric;
  readonly max: number;
  readonly per: WindowSpec;
  /** The counter's key less the window's start. */
  readonly keyPrefix: string;
  readonly override: string;
  /** The last counter handed out: the same object again while its window and amount hold. */
  last: WindowCounter | undefined;
}

/** Subjects remembered per limit; past this the memo starts again (person-keyed limits meet many). */
const MEMO_SIZE = 10_000;

export interface CompiledLimits {
  readonly limits: readonly CompiledLimit[];
  readonly config: LimitsConfig;
  /** Store key prefix (Redis); the memory store uses the same names. */
  readonly prefix: string;
  /** Whether any limit has a cost budget (so a request's cost must be estimated). */
  readonly countsCost: boolean;
  /** What a request reserves when its body says nothing (`estimate:`). */
  readonly defaultEstimate: Estimate;
}

/** Who and what a request is, as far as limits care. */
export interface LimitSubject {
  readonly identity: string;
  readonly teams: readonly string[];
  readonly person?: { readonly sub: string; readonly groups: readonly string[] } | undefined;
  readonly destination: string;
  /** The model the body asks for, when the body was read; unknown matches every model scope. */
  readonly model?: string | undefined;
}

export interface Estimate {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costMicros: number;
}

export function compileLimits(config: LimitsConfig): CompiledLimits {
  const limits = config.rules.map((spec): CompiledLimit => {
    const exact = spec.identities?.filter((p) => !p.endsWith('/*'));
    const prefixes = spec.identities?.filter((p) => p.endsWith('/*')).map((p) => p.slice(0, -1));
    return {
      spec,
      exactIdentities: exact ? new Set(exact) : null,
      identityPrefixes: prefixes ? new Set(prefixes) : null,
      teams: spec.teams ? new Set(spec.teams) : null,
      groups: spec.groups ? new Set(spec.groups) : null,
      destinations: spec.destinations ? new Set(spec.destinations) : null,
      models: spec.models ?? null,
      memo: new Map(),
    };
  });
  return {
    limits,
    config,
    prefix: typeof config.store === 'object' ? config.store.redis.prefix : 'keybroker:',
    countsCost: config.rules.some((r) => r.costUsd),
    defaultEstimate: { inputTokens: config.estimate.inputTokens, outputTokens: config.estimate.outputTokens, costMicros: config.estimate.costUsd },
  };
}

/** The limits whose scope covers `subject`, in configuration order. */
export function limitsFor(compiled: CompiledLimits, subject: LimitSubject): CompiledLimit[] {
  return compiled.limits.filter((limit) => covers(limit, subject));
}

function covers(limit: CompiledLimit, s: LimitSubject): boolean {
  if (limit.destinations && !limit.destinations.has(s.destination)) return false;
  if (limit.exactIdentities && !identityMatches(limit, s.identity)) return false;
  if (limit.teams && !s.teams.some((t) => limit.teams!.has(t))) return false;
  if (limit.groups && !s.person?.groups.some((g) => limit.groups!.has(g))) return false;
  if (limit.models && s.model !== undefined) {
    const model = s.model;
    if (!limit.models.some((p) => (p.endsWith('*') ? model.startsWith(p.slice(0, -1)) : model === p))) return false;
  }
  return true;
}

function identityMatches(limit: CompiledLimit, identity: string): boolean {
  if (limit.exactIdentities!.has(identity)) return true;
  let found = false;
  forEachAncestor(identity, (prefix) => {
    if (limit.identityPrefixes!.has(prefix)) found = true;
  });
  return found;
}

/**
 * Whose counters a limit keeps for this subject. A person-keyed limit without a verified
 * person counts everyone without one together (`person:-`), so leaving the user token off
 * never escapes a person budget; a team-keyed limit counts each of the subject's teams it names.
 */
export function subjectsOf(limit: CompiledLimit, s: LimitSubject): string[] {
  switch (limit.spec.per) {
    case 'identity':
      return [`identity:${s.identity}`];
    case 'person':
      return [`person:${s.person?.sub ?? '-'}`];
    case 'team':
      return s.teams.filter((t) => limit.teams!.has(t)).map((t) => `team:${t}`);
    case 'tenant':
      return ['tenant'];
  }
}

/**
 * The counters a request must pass. `share` divides every limit (the per-replica local
 * fallback counts 1/replicas of each). Counters are shared between requests (readonly):
 * the same subject in the same window with the same amount gets the same object.
 */
export function planCounters(compiled: CompiledLimits, subject: LimitSubject, estimate: Estimate, now: number, share = 1): Counter[] {
  const counters: Counter[] = [];
  for (const limit of compiled.limits) {
    if (!covers(limit, subject)) continue;
    if (share !== 1) {
      for (const who of subjectsOf(limit, subject)) counters.push(...countersOf(compiled.prefix, limit.spec, who, estimate, now, share));
      continue;
    }
    switch (limit.spec.per) {
      case 'identity':
        addCounters(counters, compiled.prefix, limit, subject.identity, 'identity:', estimate, now);
        break;
      case 'person':
        addCounters(counters, compiled.prefix, limit, subject.person?.sub ?? '-', 'person:', estimate, now);
        break;
      case 'team':
        for (const team of subject.teams) if (limit.teams!.has(team)) addCounters(counters, compiled.prefix, limit, team, 'team:', estimate, now);
        break;
      case 'tenant':
        addCounters(counters, compiled.prefix, limit, '', 'tenant', estimate, now);
    }
  }
  return counters;
}

function addCounters(counters: Counter[], prefix: string, limit: CompiledLimit, name: string, kind: string, estimate: Estimate, now: number): void {
  let plan = limit.memo.get(name);
  if (!plan) {
    if (limit.memo.size >= MEMO_SIZE) limit.memo.clear();
    plan = subjectPlan(prefix, limit.spec, `${kind}${name}`);
    limit.memo.set(name, plan);
  }
  if (plan.bucket) counters.push(plan.bucket);
  for (const window of plan.windows) counters.push(windowCounter(window, amountOf(window.metric, estimate), now));
}

function subjectPlan(prefix: string, spec: LimitRuleConfig, subject: string): SubjectPlan {
  // countersOf's counters at any time, amount 0: the bucket as it is, the windows' keys and override fields.
  const counters = countersOf(prefix, spec, subject, { inputTokens: 0, outputTokens: 0, costMicros: 0 }, 0);
  let bucket: BucketCounter | undefined;
  const windows: WindowPlan[] = [];
  for (const c of counters) {
    if (c.kind === 'bucket') bucket = c;
    else {
      const per = (c.metric === 'cost_usd' ? spec.costUsd!.per : spec.tokens!.per) as WindowSpec;
      windows.push({ limitId: c.limitId, subject, metric: c.metric, max: c.max, per, keyPrefix: windowKeyPrefix(prefix, spec.id, c.metric, subject), override: c.override, last: undefined });
    }
  }
  return { bucket, windows };
}

function windowCounter(plan: WindowPlan, amount: number, now: number): WindowCounter {
  const last = plan.last;
  const current = last !== undefined && now >= last.start && now < last.end;
  if (current && last.amount === amount) return last;
  const { start, end } = current ? last : windowAt(plan.per, now);
  const key = current ? last.key : `${plan.keyPrefix}${start}`;
  const { limitId, subject, metric, override, max } = plan;
  return (plan.last = { kind: 'window', key, limitId, subject, metric, override, max, amount, start, end });
}

function amountOf(metric: Metric, estimate: Estimate): number {
  switch (metric) {
    case 'input_tokens':
      return estimate.inputTokens;
    case 'output_tokens':
      return estimate.outputTokens;
    case 'total_tokens':
      return estimate.inputTokens + estimate.outputTokens;
    default:
      return estimate.costMicros;
  }
}

export function countersOf(prefix: string, spec: LimitRuleConfig, subject: string, estimate: Estimate, now: number, share = 1): Counter[] {
  const counters: Counter[] = [];
  const base = (metric: Metric) => ({ limitId: spec.id, subject, metric, override: `${spec.id}|${subject}|${metric}` });
  if (spec.requests) {
    const { rate, per, burst } = spec.requests;
    const periodMs = (per as Extract<WindowSpec, { kind: 'fixed' }>).ms;
    counters.push({ kind: 'bucket', key: `${prefix}b:${spec.id}:${subject}`, ...base('requests'), rate: rate / share, periodMs, burst: Math.max(1, Math.floor(burst / share)) });
  }
  const window = (metric: Metric, max: number, amount: number, per: WindowSpec) => {
    const { start, end } = windowAt(per, now);
    counters.push({ kind: 'window', key: `${windowKeyPrefix(prefix, spec.id, metric, subject)}${start}`, ...base(metric), max: Math.floor(max / share), amount, start, end });
  };
  if (spec.tokens) {
    const { input, output, total, per } = spec.tokens;
    if (input !== undefined) window('input_tokens', input, estimate.inputTokens, per);
    if (output !== undefined) window('output_tokens', output, estimate.outputTokens, per);
    if (total !== undefined) window('total_tokens', total, estimate.inputTokens + estimate.outputTokens, per);
  }
  if (spec.costUsd) window('cost_usd', spec.costUsd.max, estimate.costMicros, spec.costUsd.per);
  return counters;
}

/** A window counter's key, less the window's start that ends it. */
function windowKeyPrefix(prefix: string, limitId: string, metric: Metric, subject: string): string {
  return `${prefix}w:${limitId}:${metric}:${subject}:`;
}
