/**
 * Limits compiled once per runtime, and the plan for one request: every limit whose scope
 * covers the request contributes its counters; all of them must admit it (the tightest
 * wins). Pure: the clock and the store are the caller's.
 */
import { forEachAncestor } from '../policy/evaluate.ts';
import type { LimitRuleConfig, LimitsConfig } from './schema.ts';
import { windowAt, type WindowSpec } from './window.ts';
import type { Counter, Metric } from './types.ts';

interface CompiledLimit {
  readonly spec: LimitRuleConfig;
  readonly exactIdentities: ReadonlySet<string> | null;
  readonly identityPrefixes: ReadonlySet<string> | null;
  readonly teams: ReadonlySet<string> | null;
  readonly groups: ReadonlySet<string> | null;
  readonly destinations: ReadonlySet<string> | null;
  readonly models: readonly string[] | null;
}

export interface CompiledLimits {
  readonly limits: readonly CompiledLimit[];
  readonly config: LimitsConfig;
  /** Store key prefix (Redis); the memory store uses the same names. */
  readonly prefix: string;
  /** Whether any limit has a cost budget (so a request's cost must be estimated). */
  readonly countsCost: boolean;
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
    };
  });
  return { limits, config, prefix: typeof config.store === 'object' ? config.store.redis.prefix : 'keybroker:', countsCost: config.rules.some((r) => r.costUsd) };
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
 * fallback counts 1/replicas of each).
 */
export function planCounters(compiled: CompiledLimits, subject: LimitSubject, estimate: Estimate, now: number, share = 1): Counter[] {
  const counters: Counter[] = [];
  for (const limit of limitsFor(compiled, subject)) {
    for (const who of subjectsOf(limit, subject)) counters.push(...countersOf(compiled.prefix, limit.spec, who, estimate, now, share));
  }
  return counters;
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
    counters.push({ kind: 'window', key: `${prefix}w:${spec.id}:${metric}:${subject}:${start}`, ...base(metric), max: Math.floor(max / share), amount, start, end });
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
