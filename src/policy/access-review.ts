/**
 * Access review over the policy in force: who may call a destination, and what an
 * identity may do. Read from the same rules the compiled index is built from, with the
 * same matching (exact identities or `/*` prefixes, `*` methods, exact or `*`-suffixed
 * paths), so the answer lists the grants Check would consult — and the deny rules that
 * carve exceptions out of them, since a deny beats any grant (invariant 6).
 */
import type { RuleSpec } from './compile.ts';

export interface ReviewedRule {
  readonly rule: string;
  readonly effect: 'allow' | 'deny';
  readonly identities: readonly string[];
  readonly destinations: readonly string[];
  /** Empty: any method. */
  readonly methods: readonly string[];
  /** Empty: any path. */
  readonly paths: readonly string[];
  readonly personRequired: boolean;
  readonly personGroups: readonly string[];
}

export interface AccessReview {
  readonly grants: readonly ReviewedRule[];
  readonly denials: readonly ReviewedRule[];
}

export interface WhoCanQuery {
  readonly destination: string;
  readonly method?: string | undefined;
  readonly path?: string | undefined;
}

export interface CanQuery {
  readonly identity: string;
  readonly destination?: string | undefined;
}

/** The rules that let someone (or forbid someone to) call `destination`. */
export function whoCan(rules: readonly RuleSpec[], query: WhoCanQuery): AccessReview {
  return review(rules.filter((r) => r.destinations.includes(query.destination) && (!query.method || methodMatches(r.methods, query.method)) && (!query.path || pathMatches(r.paths, query.path))));
}

/** The rules that name `identity` (exactly or by prefix), optionally at one destination. */
export function whatCan(rules: readonly RuleSpec[], query: CanQuery): AccessReview {
  return review(rules.filter((r) => r.identities.some((p) => identityMatches(p, query.identity)) && (!query.destination || r.destinations.includes(query.destination))));
}

export function identityMatches(pattern: string, identity: string): boolean {
  return pattern.endsWith('/*') ? identity.startsWith(pattern.slice(0, -1)) : pattern === identity;
}

function methodMatches(methods: readonly string[] | undefined, method: string): boolean {
  return !methods || methods.includes('*') || methods.includes(method);
}

function pathMatches(paths: readonly string[] | undefined, path: string): boolean {
  return !paths || paths.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : p === path));
}

function review(rules: readonly RuleSpec[]): AccessReview {
  // Shadow rules are evaluated beside the policy but never enforced: they grant and deny nothing.
  const reviewed = rules
    .filter((r) => r.mode !== 'shadow')
    .map(
      (r): ReviewedRule => ({
        rule: r.id,
        effect: r.effect,
        identities: r.identities,
        destinations: r.destinations,
        methods: r.methods && !r.methods.includes('*') ? r.methods : [],
        paths: r.paths ?? [],
        personRequired: Boolean(r.person),
        personGroups: r.person?.groups ?? [],
      }),
    );
  return { grants: reviewed.filter((r) => r.effect === 'allow'), denials: reviewed.filter((r) => r.effect === 'deny') };
}
