/**
 * Deciding one request against the compiled policy: default deny, and any matching deny
 * rule beats every grant (invariant 6).
 */
import type { CompiledRule, IdentityIndex, PolicyIndex } from './compile.ts';
import { denyBodyMatch, grantBodyFailure, type BodyFailure, type BodyReason } from './body-conditions.ts';
import type { BodyFacts } from '../model/body.ts';
import { Denial } from '../lib/denial.ts';

export interface PolicyInput {
  readonly identity: string;
  readonly destination: string;
  readonly method: string;
  /** Path as the upstream sees it, without query: the query never widens a match. */
  readonly path: string;
  /** The verified natural person, if the request names one. */
  readonly person?: { readonly groups: readonly string[] } | undefined;
  /**
   * The body's facts, asked for only when a rule that could apply has body conditions;
   * throws (body_unreadable) when the body cannot be read. Absent: no body to read.
   */
  readonly body?: (() => BodyFacts) | undefined;
}

export type PolicyResult =
  | { readonly allow: true; readonly rule: string }
  | { readonly allow: false; readonly reason: 'denied_by_rule'; readonly rule: string; readonly detail?: string }
  | { readonly allow: false; readonly reason: 'no_matching_grant'; readonly rule?: undefined }
  /** Grants matched the request but not what its body asks for: the earliest one's reason. */
  | { readonly allow: false; readonly reason: BodyReason; readonly rule: string; readonly detail: string };

const SCHEME_LENGTH = 'spiffe://'.length;

export function evaluate(policy: PolicyIndex, input: PolicyInput): PolicyResult {
  const index = policy.byDestination.get(input.destination);
  if (!index) return { allow: false, reason: 'no_matching_grant' };

  let grant: CompiledRule | undefined;
  let deny: CompiledRule | undefined;
  let denyDetail: string | undefined;
  let refused: { rule: CompiledRule; failure: BodyFailure } | undefined;
  const consider = (rules: readonly CompiledRule[] | undefined): void => {
    if (!rules) return;
    for (const rule of rules) {
      if (!ruleMatches(rule, input)) continue;
      if (rule.effect === 'deny') {
        if (deny && deny.order < rule.order) continue;
        let detail: string | undefined;
        if (rule.body) {
          detail = denyBodyMatch(rule.body, bodyOf(input));
          if (detail === undefined) continue;
        }
        deny = rule;
        denyDetail = detail;
      } else if (!grant || rule.order < grant.order) {
        const failure = rule.body ? grantBodyFailure(rule.body, bodyOf(input)) : undefined;
        if (!failure) grant = rule;
        else if (!refused || rule.order < refused.rule.order) refused = { rule, failure };
      }
    }
  };

  forEachCandidate(index, input.identity, consider);

  if (deny) return denyDetail === undefined ? { allow: false, reason: 'denied_by_rule', rule: deny.id } : { allow: false, reason: 'denied_by_rule', rule: deny.id, detail: denyDetail };
  if (grant) return { allow: true, rule: grant.id };
  if (refused) return { allow: false, reason: refused.failure.reason, rule: refused.rule.id, detail: refused.failure.detail };
  return { allow: false, reason: 'no_matching_grant' };
}

function bodyOf(input: PolicyInput): BodyFacts {
  if (!input.body) throw new Denial('body_unreadable', 'a rule reads the body, but the destination declares no api to read it as');
  return input.body();
}

/**
 * The rule lists at one destination that can name `identity`: its exact entry, then each
 * `/*` prefix entry above it. Check decides from these, and `can` lists them.
 */
export function forEachCandidate(index: IdentityIndex, identity: string, visit: (rules: readonly CompiledRule[] | undefined) => void): void {
  visit(index.exact.get(identity));
  forEachAncestor(identity, (prefix) => visit(index.prefix.get(prefix)));
}

/** `spiffe://td/a/b` → `spiffe://td/`, `spiffe://td/a/`: every prefix a `/*` pattern could name. */
export function forEachAncestor(identity: string, visit: (prefix: string) => void): void {
  for (let slash = identity.indexOf('/', SCHEME_LENGTH); slash !== -1; slash = identity.indexOf('/', slash + 1)) {
    visit(identity.slice(0, slash + 1));
  }
}

function ruleMatches(rule: CompiledRule, input: PolicyInput): boolean {
  return personMatches(rule, input.person) && requestMatches(rule, input.method, input.path);
}

/** Whether a rule's methods and paths cover a request (identity, person and body aside). */
export function requestMatches(rule: CompiledRule, method: string, path: string): boolean {
  return methodMatches(rule, method) && pathMatches(rule, path);
}

export function methodMatches(rule: CompiledRule, method: string): boolean {
  return !rule.methods || rule.methods.has(method);
}

export function pathMatches(rule: CompiledRule, path: string): boolean {
  if (!rule.exactPaths) return true;
  if (rule.exactPaths.has(path)) return true;
  return rule.pathPrefixes.some((prefix) => path.startsWith(prefix));
}

/**
 * Whether a rule's person requirement holds for this person (or for no person). A grant
 * needs a person (in its groups); a deny rule also holds when no person is named — the
 * agent decides whether to send the user token, so leaving it off must not escape the
 * rule (fail closed).
 */
export function personMatches(rule: CompiledRule, person: PolicyInput['person']): boolean {
  if (!rule.requirePerson) return true;
  if (!person) return rule.effect === 'deny';
  const groups = rule.personGroups;
  return !groups || person.groups.some((g) => groups.has(g));
}
