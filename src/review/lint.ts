/**
 * `keybroker lint`: what in a valid configuration is probably not what its author meant.
 * Each finding has a stable code (docs/policy-rollout.md lists them), a severity and the
 * file and line to go to. Works on the compiled rules, as Check sees them; shadow rules
 * are linted against each other's effect only where noted.
 */
import type { LoadedConfig, RuleLocation } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { compilePolicy, type CompiledRule, type RuleSpec } from '../policy/compile.ts';
import { pathProblem } from '../route/resolve.ts';
import { openKeyStore } from '../pipeline/runtime.ts';
import { KeyUnavailableError } from '../credentials/store.ts';
import { parseKeyRef, storeRefFor } from '../credentials/key-ref.ts';

export type Severity = 'error' | 'warning';

export interface Finding {
  /** Stable: dashboards, CI and suppressions key on it. */
  readonly code: LintCode;
  readonly severity: Severity;
  readonly file: string;
  readonly line: number | undefined;
  readonly message: string;
}

export const LINT_CODES = {
  'path-undeliverable': 'error',
  'grant-covered-by-deny': 'warning',
  'grant-duplicate': 'warning',
  'grant-subsumed': 'warning',
  'destination-unreached': 'warning',
  'key-missing': 'error',
  'key-store-unreadable': 'warning',
} as const satisfies Record<string, Severity>;

export type LintCode = keyof typeof LINT_CODES;

interface Rule {
  readonly spec: Config['policy'][number];
  readonly compiled: CompiledRule;
  readonly at: RuleLocation;
}

export function lint(loaded: LoadedConfig): Finding[] {
  const { config } = loaded;
  const findings: Finding[] = [];
  const add = (code: LintCode, at: RuleLocation, message: string) => findings.push({ code, severity: LINT_CODES[code], file: at.file, line: at.line, message });
  const compiled = compiledRules(config.policy);
  const rules: Rule[] = config.policy.map((spec, i) => ({ spec, compiled: compiled[i] as CompiledRule, at: loaded.origins.policy[i] ?? loaded.locate(['policy', i]) }));
  const enforced = rules.filter((r) => r.spec.mode !== 'shadow');

  for (const rule of rules) {
    for (const path of rule.spec.paths ?? []) {
      const problem = pathProblem(path.endsWith('*') ? path.slice(0, -1) || '/' : path);
      if (problem) add('path-undeliverable', rule.at, `rule "${rule.spec.id}": path "${path}" can never be delivered: ${problem}, and such requests are refused before policy`);
    }
  }

  const grants = enforced.filter((r) => r.spec.effect === 'allow');
  const denies = enforced.filter((r) => r.spec.effect === 'deny' && unconditional(r));
  for (const grant of grants) {
    const deny = denies.find((d) => covers(d, grant));
    if (deny) {
      add('grant-covered-by-deny', grant.at, `rule "${grant.spec.id}" can never allow: deny rule "${deny.spec.id}" (${deny.at.file}:${deny.at.line ?? '?'}) covers every request it grants`);
      continue;
    }
    const earlier = grants.find((g) => g !== grant && g.compiled.order < grant.compiled.order && covers(g, grant) && sameConditions(g, grant));
    if (!earlier) continue;
    const duplicate = covers(grant, earlier);
    add(
      duplicate ? 'grant-duplicate' : 'grant-subsumed',
      grant.at,
      `rule "${grant.spec.id}" ${duplicate ? 'grants exactly what' : 'grants nothing beyond what'} rule "${earlier.spec.id}" (${earlier.at.file}:${earlier.at.line ?? '?'}) already grants`,
    );
  }

  const reached = new Set(grants.flatMap((g) => g.spec.destinations));
  for (const name of Object.keys(config.destinations)) {
    if (!reached.has(name)) add('destination-unreached', loaded.locate(['destinations', name]), `destination "${name}" is reached by no grant: every request routed to it is denied`);
  }

  lintKeys(loaded, rules, add);
  return findings.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0));
}

/** Keys referenced but absent in the store, for stores keybroker can read without the network. */
function lintKeys(loaded: LoadedConfig, rules: readonly Rule[], add: (code: LintCode, at: RuleLocation, message: string) => void): void {
  const { config } = loaded;
  if (config.keys.store === 'vault') return; // reached over the network: not linted
  let store;
  try {
    store = openKeyStore(config.keys);
  } catch (error) {
    add('key-store-unreadable', loaded.locate(['keys']), `the key store cannot be read, so its keys were not checked: ${(error as Error).message}`);
    return;
  }
  try {
    const refs: Array<{ text: string; at: RuleLocation }> = [
      ...Object.entries(config.destinations).map(([name, d]) => ({ text: d.key, at: loaded.locate(['destinations', name, 'key']) })),
      ...rules.flatMap((r) => (r.spec.key ? [{ text: r.spec.key, at: r.at }] : [])),
    ];
    for (const { text, at } of refs) {
      const ref = parseKeyRef(text);
      const teams = ref.perTeam ? Object.keys(config.teams) : [undefined];
      for (const team of teams) {
        const storeRef = storeRefFor(ref, team);
        try {
          store.get(storeRef);
        } catch (error) {
          if (!(error instanceof KeyUnavailableError)) throw error;
          add('key-missing', at, `key "${storeRef}"${team ? ` (team ${team})` : ''} is not in the ${store.kind} key store: requests that need it are denied (key_unavailable)`);
        }
      }
    }
  } finally {
    store.close();
  }
}

function compiledRules(specs: readonly RuleSpec[]): CompiledRule[] {
  // Compiled exactly as Check compiles them, one index entry per rule, to read back the rules.
  const byId = new Map<string, CompiledRule>();
  const policy = compilePolicy(specs.map((s) => ({ ...s, mode: 'enforce' as const })));
  for (const index of policy.byDestination.values()) {
    for (const bucket of [...index.exact.values(), ...index.prefix.values()]) for (const rule of bucket) byId.set(rule.id, rule);
  }
  return specs.map((s) => byId.get(s.id) as CompiledRule);
}

function unconditional(rule: Rule): boolean {
  return !rule.compiled.requirePerson && !rule.compiled.body;
}

function sameConditions(a: Rule, b: Rule): boolean {
  if (a.compiled.body || b.compiled.body) return false;
  if (!a.compiled.requirePerson) return true; // a needs nothing more: it covers b whatever b requires
  if (!b.compiled.requirePerson) return false;
  const ag = a.compiled.personGroups;
  const bg = b.compiled.personGroups;
  return ag === null || (bg !== null && [...bg].every((g) => ag.has(g)));
}

/** Every request `inner` applies to (identity, destination, method, path), `outer` applies to too. */
function covers(outer: Rule, inner: Rule): boolean {
  if (!inner.spec.destinations.every((d) => outer.spec.destinations.includes(d))) return false;
  if (!inner.spec.identities.every((p) => outer.spec.identities.some((q) => patternCovers(q, p)))) return false;
  const om = outer.compiled.methods;
  const im = inner.compiled.methods;
  if (om !== null && (im === null || ![...im].every((m) => om.has(m)))) return false;
  const op = outer.spec.paths;
  const ip = inner.spec.paths;
  if (!op) return true;
  if (!ip) return false;
  return ip.every((p) => op.some((q) => patternCovers(q, p)));
}

/** Every identity or path `inner` names, `outer` names too ("…/*" and "…*" are prefixes). */
function patternCovers(outer: string, inner: string): boolean {
  if (!outer.endsWith('*')) return outer === inner;
  const prefix = outer.slice(0, -1);
  return inner.startsWith(prefix);
}
