/**
 * Policy compiled at load into an index: destination → identity (exact, or prefix by
 * path ancestor) → the few rules that can apply. A decision then costs a handful of map
 * lookups whatever the number of rules.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../lib/canonical-json.ts';
import { compileBodyConditions, type BodyConditionSpec, type CompiledBodyConditions } from './body-conditions.ts';

export interface RuleSpec extends BodyConditionSpec {
  readonly id: string;
  readonly effect: 'allow' | 'deny';
  readonly identities: readonly string[];
  readonly destinations: readonly string[];
  /** Absent: any method (deny rules only; the config schema requires it on grants). */
  readonly methods?: readonly string[] | undefined;
  readonly paths?: readonly string[] | undefined;
  readonly person?: { readonly required: true; readonly groups?: readonly string[] | undefined } | undefined;
  /** `shadow`: compiled beside the enforced policy, never enforced. Absent: enforce. */
  readonly mode?: 'enforce' | 'shadow' | undefined;
}

export interface CompiledRule {
  readonly id: string;
  /** Position in the policy: the earliest matching grant is the one reported. */
  readonly order: number;
  readonly effect: 'allow' | 'deny';
  /** `null`: any method. */
  readonly methods: ReadonlySet<string> | null;
  /** `null`: any path. */
  readonly exactPaths: ReadonlySet<string> | null;
  readonly pathPrefixes: readonly string[];
  readonly requirePerson: boolean;
  /** `null`: any group (or no person requirement). */
  readonly personGroups: ReadonlySet<string> | null;
  /** `null`: the rule never reads the body. */
  readonly body: CompiledBodyConditions | null;
}

export interface IdentityIndex {
  readonly exact: Map<string, CompiledRule[]>;
  /** Keyed by the pattern without its trailing `*`, so ending in "/". */
  readonly prefix: Map<string, CompiledRule[]>;
}

/** Rules indexed by destination, then identity: what `evaluate` decides against. */
export interface PolicyIndex {
  readonly byDestination: ReadonlyMap<string, IdentityIndex>;
}

export interface CompiledPolicy extends PolicyIndex {
  /** Content hash of the policy and destinations it was compiled from. */
  readonly version: string;
  /** Every rule, enforced and shadow. */
  readonly ruleCount: number;
  /** The enforced rules. */
  readonly byDestination: ReadonlyMap<string, IdentityIndex>;
  /** Present when some rules are in shadow mode. */
  readonly shadow?: ShadowIndexes;
}

/**
 * Shadow rules, indexed twice: alone, to tell cheaply whether any of them applies to a
 * request (most Checks: none), and with the enforced rules, for what the answer would be
 * if they were enforced.
 */
export interface ShadowIndexes {
  readonly only: PolicyIndex;
  readonly all: PolicyIndex;
  readonly ruleCount: number;
}

export function compilePolicy(rules: readonly RuleSpec[], versionedContent: unknown = rules): CompiledPolicy {
  const compiled = rules.map((spec, order) => ({ spec, rule: compileRule(spec, order) }));
  const enforced = compiled.filter(({ spec }) => spec.mode !== 'shadow');
  const version = policyVersion(versionedContent);
  const policy = { version, ruleCount: rules.length, byDestination: indexRules(enforced) };
  if (enforced.length === compiled.length) return policy;
  const shadowRules = compiled.filter(({ spec }) => spec.mode === 'shadow');
  return { ...policy, shadow: { only: { byDestination: indexRules(shadowRules) }, all: { byDestination: indexRules(compiled) }, ruleCount: shadowRules.length } };
}

function indexRules(compiled: ReadonlyArray<{ spec: RuleSpec; rule: CompiledRule }>): Map<string, IdentityIndex> {
  const byDestination = new Map<string, IdentityIndex>();
  compiled.forEach(({ spec, rule }) => {
    for (const destination of spec.destinations) {
      let index = byDestination.get(destination);
      if (!index) byDestination.set(destination, (index = { exact: new Map(), prefix: new Map() }));
      for (const pattern of spec.identities) {
        const [map, key] = pattern.endsWith('/*') ? [index.prefix, pattern.slice(0, -1)] : [index.exact, pattern];
        const bucket = map.get(key);
        if (bucket) bucket.push(rule);
        else map.set(key, [rule]);
      }
    }
  });
  return byDestination;
}

function compileRule(spec: RuleSpec, order: number): CompiledRule {
  const methods = !spec.methods || spec.methods.includes('*') ? null : new Set(spec.methods);
  const person = { requirePerson: Boolean(spec.person), personGroups: spec.person?.groups ? new Set(spec.person.groups) : null, body: compileBodyConditions(spec, spec.effect) };
  if (!spec.paths) return { id: spec.id, order, effect: spec.effect, methods, exactPaths: null, pathPrefixes: [], ...person };
  const exactPaths = new Set<string>();
  const pathPrefixes: string[] = [];
  for (const path of spec.paths) {
    if (path.endsWith('*')) pathPrefixes.push(path.slice(0, -1));
    else exactPaths.add(path);
  }
  return { id: spec.id, order, effect: spec.effect, methods, exactPaths, pathPrefixes, ...person };
}

export function policyVersion(content: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(content)).digest('hex').slice(0, 16)}`;
}
