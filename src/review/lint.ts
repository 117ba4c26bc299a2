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
import { KeyUnavailableError, type KeyStore } from '../credentials/store.ts';
import { parseKeyRef, storeRefFor } from '../credentials/key-ref.ts';
import { API_METHODS, BODYLESS_METHODS } from '../inspect/api-methods.ts';

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
  'method-not-accepted': 'warning',
  'method-without-body': 'warning',
  'grant-covered-by-deny': 'warning',
  'grant-duplicate': 'warning',
  'grant-subsumed': 'warning',
  'destination-unreached': 'warning',
  'key-missing': 'error',
  'key-store-unreadable': 'warning',
  'key-unreadable': 'warning',
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
  const add: Add = (code, at, message) => findings.push({ code, severity: LINT_CODES[code], file: at.file, line: at.line, message });
  const compiled = compiledRules(config.policy);
  const rules: Rule[] = config.policy.map((spec, i) => ({ spec, compiled: compiled[i] as CompiledRule, at: loaded.origins.policy[i] ?? loaded.locate(['policy', i]) }));
  const enforced = rules.filter((r) => r.spec.mode !== 'shadow');

  for (const rule of rules) {
    for (const path of rule.spec.paths ?? []) {
      const problem = pathProblem(path.endsWith('*') ? path.slice(0, -1) || '/' : path);
      if (problem) add('path-undeliverable', rule.at, `rule "${rule.spec.id}": path "${path}" can never be delivered: ${problem}, and such requests are refused before policy`);
    }
  }

  lintMethods(config, rules, add);

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
  return findings.sort(byPlace);
}

/** Findings in file and line order. */
export function byPlace(a: Finding, b: Finding): number {
  return a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0);
}

/**
 * Methods a rule names that its destination's api never uses, and methods without a body
 * on a rule that reads the body (such requests are refused `body_unreadable`).
 */
function lintMethods(config: Config, rules: readonly Rule[], add: Add): void {
  for (const rule of rules) {
    const methods = rule.compiled.methods;
    if (!methods) continue;
    for (const destination of rule.spec.destinations) {
      const api = config.destinations[destination]?.api;
      if (!api) continue;
      const never = [...methods].filter((m) => !API_METHODS[api].has(m));
      if (never.length > 0) {
        const all = never.length === methods.size;
        add(
          'method-not-accepted',
          rule.at,
          `rule "${rule.spec.id}": destination "${destination}" (api ${api}) is never called with ${never.join(', ')}${all ? ', so the rule can never apply there' : ''}; its methods are ${[...API_METHODS[api]].join(', ')}`,
        );
      }
    }
    if (rule.compiled.body) {
      const bodyless = [...methods].filter((m) => BODYLESS_METHODS.has(m));
      if (bodyless.length > 0) {
        add(
          'method-without-body',
          rule.at,
          `rule "${rule.spec.id}" reads the body (models, tools…), but ${bodyless.join(', ')} requests carry none: they are refused body_unreadable${rule.spec.effect === 'allow' ? ', never granted' : ''}`,
        );
      }
    }
  }
}

type Add = (code: LintCode, at: RuleLocation, message: string) => void;

interface KeyUse {
  readonly ref: string;
  readonly team: string | undefined;
  readonly at: RuleLocation;
}

/** Every store reference the configuration names (each team's, for `{team}`), with where it is named. */
function keyUses(loaded: LoadedConfig, rules: ReadonlyArray<Pick<Rule, 'spec' | 'at'>>): KeyUse[] {
  const { config } = loaded;
  const named: Array<{ text: string; at: RuleLocation }> = [
    ...Object.entries(config.destinations).flatMap(([name, d]) => {
      const clientSecret = typeof d.inject === 'object' && 'oauth2' in d.inject ? d.inject.oauth2.clientSecret : undefined;
      return [
        { text: d.key, at: loaded.locate(['destinations', name, 'key']) },
        ...(clientSecret === undefined ? [] : [{ text: clientSecret, at: loaded.locate(['destinations', name, 'inject', 'oauth2', 'clientSecret']) }]),
      ];
    }),
    ...rules.flatMap((r) => (r.spec.key ? [{ text: r.spec.key, at: r.at }] : [])),
  ];
  return named.flatMap(({ text, at }) => {
    const ref = parseKeyRef(text);
    const teams = ref.perTeam ? Object.keys(config.teams) : [undefined];
    return teams.map((team) => ({ ref: storeRefFor(ref, team), team, at }));
  });
}

function missing(add: Add, use: KeyUse, kind: string): void {
  add('key-missing', use.at, `key "${use.ref}"${use.team ? ` (team ${use.team})` : ''} is not in the ${kind} key store: requests that need it are denied (key_unavailable)`);
}

/** Keys referenced but absent in the store, for stores keybroker can read without the network. */
function lintKeys(loaded: LoadedConfig, rules: readonly Rule[], add: Add): void {
  const { config } = loaded;
  if (config.keys.store === 'vault') return; // reached over the network: lintReachableKeys
  let store: KeyStore;
  try {
    store = openKeyStore(config.keys);
  } catch (error) {
    add('key-store-unreadable', loaded.locate(['keys']), `the key store cannot be read, so its keys were not checked: ${(error as Error).message}`);
    return;
  }
  try {
    for (const use of keyUses(loaded, rules)) {
      try {
        void store.get(use.ref); // file and env stores answer synchronously
      } catch (error) {
        if (!(error instanceof KeyUnavailableError)) throw error;
        missing(add, use, store.kind);
      }
    }
  } finally {
    store.close();
  }
}

/**
 * Keys referenced but absent in a store reached over the network (Vault), when it can be
 * reached: each key is read once, within the store's timeout. A key Vault says it has not
 * is `key-missing`; one it could not be asked for, `key-unreadable`.
 */
export async function lintReachableKeys(loaded: LoadedConfig): Promise<Finding[]> {
  const { config } = loaded;
  if (config.keys.store !== 'vault') return [];
  const findings: Finding[] = [];
  const add: Add = (code, at, message) => findings.push({ code, severity: LINT_CODES[code], file: at.file, line: at.line, message });
  const rules = config.policy.map((spec, i) => ({ spec, at: loaded.origins.policy[i] ?? loaded.locate(['policy', i]) }));
  const store = openKeyStore(config.keys);
  try {
    const uses = keyUses(loaded, rules);
    const read = await Promise.allSettled(uses.map(async (use) => store.get(use.ref)));
    read.forEach((result, i) => {
      const use = uses[i] as KeyUse;
      if (result.status === 'fulfilled') return;
      const error = result.reason as Error;
      if (error instanceof KeyUnavailableError && error.absent) missing(add, use, store.kind);
      else add('key-unreadable', use.at, `key "${use.ref}" could not be read from ${store.kind}, so it was not checked: ${error.message}`);
    });
  } finally {
    store.close();
  }
  return findings.sort(byPlace);
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
