/**
 * Access review over the compiled policy, the structures Check decides from: who may call
 * a destination, and what an identity may do. `who-can` walks a destination's identity
 * index; `can` looks an identity up the way Check does (its exact entry, then every `/*`
 * prefix above it). Methods, paths, persons and body conditions are matched by the
 * functions `evaluate` uses, so the answer lists the grants Check would consult — and the
 * deny rules that carve exceptions out of them, since a deny beats any grant (invariant 6).
 * Shadow rules are not in the enforced index: they grant and deny nothing.
 */
import type { BodyFacts } from '../model/body.ts';
import { bodyConditionsApply, describeBodyConditions } from './body-conditions.ts';
import type { CompiledRule, IdentityIndex, PolicyIndex } from './compile.ts';
import { forEachCandidate, methodMatches, pathMatches } from './evaluate.ts';

export interface ReviewedRule {
  readonly rule: string;
  readonly effect: 'allow' | 'deny';
  /** Identity patterns: exact SPIFFE IDs, or prefixes ending in `/*`. */
  readonly identities: readonly string[];
  readonly destinations: readonly string[];
  /** Empty: any method. */
  readonly methods: readonly string[];
  /** Empty: any path. */
  readonly paths: readonly string[];
  readonly personRequired: boolean;
  readonly personGroups: readonly string[];
  /** What the rule asks of the body (models, tools…), one line each; empty: nothing. */
  readonly conditions: readonly string[];
}

export interface AccessReview {
  /** In policy order: for a request, the first that applies is the grant Check reports. */
  readonly grants: readonly ReviewedRule[];
  readonly denials: readonly ReviewedRule[];
}

export interface WhoCanQuery {
  readonly destination: string;
  readonly method?: string | undefined;
  readonly path?: string | undefined;
  /** What the request's body asks for: only rules whose body conditions apply to it. */
  readonly body?: BodyFacts | undefined;
}

export interface CanQuery {
  readonly identity: string;
  readonly destination?: string | undefined;
  readonly body?: BodyFacts | undefined;
}

/** The rules that let someone (or forbid someone to) call `query.destination`. */
export function whoCan(policy: PolicyIndex, query: WhoCanQuery): AccessReview {
  const index = policy.byDestination.get(query.destination);
  const found = new Set<CompiledRule>();
  if (index) {
    for (const rules of [...index.exact.values(), ...index.prefix.values()]) {
      for (const rule of rules) {
        if (query.method !== undefined && !methodMatches(rule, query.method)) continue;
        if (query.path !== undefined && !pathMatches(rule, query.path)) continue;
        if (query.body && !bodyConditionsApply(rule.body, rule.effect, query.body)) continue;
        found.add(rule);
      }
    }
  }
  return review(policy, found);
}

/** The rules that name `query.identity` (exactly or by prefix), at one destination or all. */
export function whatCan(policy: PolicyIndex, query: CanQuery): AccessReview {
  const found = new Set<CompiledRule>();
  const consider = (index: IdentityIndex) =>
    forEachCandidate(index, query.identity, (rules) => {
      for (const rule of rules ?? []) if (!query.body || bodyConditionsApply(rule.body, rule.effect, query.body)) found.add(rule);
    });
  if (query.destination === undefined) for (const index of policy.byDestination.values()) consider(index);
  else {
    const index = policy.byDestination.get(query.destination);
    if (index) consider(index);
  }
  return review(policy, found);
}

function review(policy: PolicyIndex, found: ReadonlySet<CompiledRule>): AccessReview {
  const where = whereIndexed(policy, found);
  const reviewed = [...found]
    .sort((a, b) => a.order - b.order)
    .map((rule): ReviewedRule => {
      const at = where.get(rule) as { identities: Set<string>; destinations: Set<string> };
      return {
        rule: rule.id,
        effect: rule.effect,
        identities: [...at.identities],
        destinations: [...at.destinations],
        methods: rule.methods ? [...rule.methods] : [],
        paths: rule.exactPaths ? [...rule.exactPaths, ...rule.pathPrefixes.map((p) => `${p}*`)] : [],
        personRequired: rule.requirePerson,
        personGroups: rule.personGroups ? [...rule.personGroups] : [],
        conditions: describeBodyConditions(rule.body),
      };
    });
  return { grants: reviewed.filter((r) => r.effect === 'allow'), denials: reviewed.filter((r) => r.effect === 'deny') };
}

/** Where in the index each rule stands: the identity patterns and destinations it is filed under. */
function whereIndexed(policy: PolicyIndex, rules: ReadonlySet<CompiledRule>): Map<CompiledRule, { identities: Set<string>; destinations: Set<string> }> {
  const where = new Map<CompiledRule, { identities: Set<string>; destinations: Set<string> }>();
  const file = (rule: CompiledRule, destination: string, pattern: string) => {
    if (!rules.has(rule)) return;
    let at = where.get(rule);
    if (!at) where.set(rule, (at = { identities: new Set(), destinations: new Set() }));
    at.identities.add(pattern);
    at.destinations.add(destination);
  };
  for (const [destination, index] of policy.byDestination) {
    for (const [identity, bucket] of index.exact) for (const rule of bucket) file(rule, destination, identity);
    for (const [prefix, bucket] of index.prefix) for (const rule of bucket) file(rule, destination, `${prefix}*`);
  }
  return where;
}
