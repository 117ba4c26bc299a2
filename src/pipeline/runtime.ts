/**
 * A Runtime is one validated configuration made ready to serve: destinations resolved,
 * policy compiled, key store open. Reloads build a whole new Runtime and swap it in only
 * when every part of it built (invariant 8).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.ts';
import { compileTeams, teamsOf } from '../policy/teams.ts';
import { denialShapeOf, injectionFor } from '../credentials/templates.ts';
import { headersToStrip } from '../credentials/strip.ts';
import { parseKeyRef, storeRefFor } from '../credentials/key-ref.ts';
import { OAuth2Tokens } from '../credentials/oauth2.ts';
import { FileKeyStore } from '../credentials/file-store.ts';
import { EnvKeyStore } from '../credentials/env-store.ts';
import { VaultKeyStore } from '../credentials/vault-store.ts';
import type { KeyStore } from '../credentials/store.ts';
import { JwtBundle, type BundleSource } from '../identity/bundle.ts';
import { TokenVerifier } from '../identity/verifier.ts';
import type { GatewayTokenKeys } from '../identity/gateway-token.ts';
import type { TrustDomainTokens } from '../identity/jwt-svid.ts';
import type { KubernetesIssuer } from '../identity/kubernetes.ts';
import type { PersonIssuer } from '../identity/person.ts';
import type { Destination, KeyRef } from '../model/check.ts';
import { PHASES, type Step } from './check.ts';
import { compilePrices } from '../usage/prices.ts';

import type { Runtime } from './runtime-types.ts';

export type { Runtime };

export interface RuntimeParts {
  readonly log?: Logger;
  /** Carried over from the previous runtime when its configuration did not change. */
  readonly keys?: KeyStore;
  readonly tokens?: TokenVerifier;
  /** keybroker's own gateway-token keys, when it issues them (src/tokens/signer.ts). */
  readonly gateway?: GatewayTokenKeys | undefined;
  /** The runtime being replaced: stateful phases may carry their state over from it. */
  readonly previous?: Runtime;
  /** The phases whose state to prepare (tests); default the pipeline's. */
  readonly phases?: readonly Step[];
}

export function buildRuntime(config: Config, options: RuntimeParts = {}): Runtime {
  const tokens = options.tokens ?? openTokenVerifier(config, options.log, options.gateway);
  // Whatever fails below, what this runtime opened for itself is released before the error goes on.
  let phaseStates: Map<string, unknown> | undefined;
  try {
    const destinations = resolveDestinations(config, tokens);
    const policy = compileConfigPolicy(config);
    const candidate = config.policyCandidate ? compilePolicy(config.policyCandidate, { destinations: config.destinations, policy: config.policyCandidate }) : undefined;
    const ruleKeys = new Map<string, KeyRef>();
    for (const r of config.policy) if (r.key) ruleKeys.set(r.id, parseKeyRef(r.key));
    const teams = compileTeams(config.teams);
    const prices = compilePrices(config.prices);
    phaseStates = preparePhases(config, options);
    const keys = options.keys ?? openKeyStore(config.keys, options.log, options.previous?.keys);
    // One token cache for the process: its entries are keyed by everything that makes a token.
    const oauth2 = options.previous?.credentials.oauth2 ?? new OAuth2Tokens(options.log ? { log: options.log } : {});
    return {
      config,
      trustDomains: new Set(Object.keys(config.trust)),
      destinations,
      policy,
      candidate,
      teams,
      keys,
      credentials: { keys, oauth2, ruleKeys, teamsOf: (identity) => teamsOf(teams, identity) },
      tokens,
      phaseStates,
      prices,
    };
  } catch (error) {
    if (phaseStates) closePhaseStates(options.phases ?? PHASES, phaseStates, options.previous);
    if (!options.tokens) tokens.close();
    throw error;
  }
}

function resolveDestinations(config: Config, tokens: TokenVerifier): Map<string, Destination> {
  const tokenHeaders = [...tokens.settings.tokenHeaders, ...(tokens.settings.person ? [tokens.settings.person.header] : [])];
  const destinations = new Map<string, Destination>();
  for (const [name, d] of Object.entries(config.destinations)) {
    const injection = injectionFor(d.inject);
    const clientSecret = typeof d.inject === 'object' && 'oauth2' in d.inject ? d.inject.oauth2.clientSecret : undefined;
    destinations.set(name, {
      name,
      upstream: d.upstream,
      authorities: [d.upstream, ...(d.authorities ?? [])],
      routePrefix: d.routePrefix ?? '',
      injection,
      keyRef: d.key,
      key: parseKeyRef(d.key),
      clientSecret: clientSecret === undefined ? undefined : parseKeyRef(clientSecret),
      classification: d.classification,
      stripHeaders: headersToStrip(
        injection.headers.map((h) => h.name),
        [...tokenHeaders, ...config.removeHeaders],
      ),
      denialShape: denialShapeOf(d.api, d.inject),
      ...(d.api ? { api: d.api } : {}),
    });
  }
  return destinations;
}

/** The configuration's policy as Check decides with it; its version covers the destinations too. */
export function compileConfigPolicy(config: Config): CompiledPolicy {
  return compilePolicy(config.policy, { destinations: config.destinations, policy: config.policy });
}

/** Each stateful phase's state for `config`; if one cannot be built, those built so far are released. */
function preparePhases(config: Config, options: RuntimeParts): Map<string, unknown> {
  const phases = options.phases ?? PHASES;
  const states = new Map<string, unknown>();
  try {
    for (const phase of phases) {
      if (phase.state) states.set(phase.name, phase.state.prepare(config, options.previous?.phaseStates.get(phase.name), options.log));
    }
    return states;
  } catch (error) {
    closePhaseStates(phases, states, options.previous);
    throw error;
  }
}

/** Releases `retired`'s phase states that `successor` did not carry over. */
export function retirePhaseStates(retired: Runtime, successor: Runtime | undefined, phases: readonly Step[] = PHASES): void {
  closePhaseStates(phases, retired.phaseStates, successor);
}

function closePhaseStates(phases: readonly Step[], states: ReadonlyMap<string, unknown>, keep: Runtime | undefined): void {
  for (const phase of phases) {
    const state = states.get(phase.name);
    if (!phase.state || state === undefined || keep?.phaseStates.get(phase.name) === state) continue;
    try {
      phase.state.close(state);
    } catch {
      // Releasing is best effort: a close that fails must not mask why the runtime went.
    }
  }
}

/** Releases everything a runtime opened (validate, explain, shutdown). */
export function releaseRuntime(runtime: Runtime): void {
  runtime.keys.close();
  runtime.credentials.oauth2.close();
  runtime.tokens.close();
  retirePhaseStates(runtime, undefined);
}

/** Every store reference the configuration can ask for (each team's, for `{team}`), to warm. */
export function keysToWarm(runtime: Runtime): string[] {
  const refs = new Set<string>();
  const add = (ref: KeyRef | undefined) => {
    if (!ref) return;
    if (!ref.perTeam) refs.add(ref.store);
    else for (const team of runtime.teams.names) refs.add(storeRefFor(ref, team));
  };
  for (const d of runtime.destinations.values()) {
    add(d.key);
    add(d.clientSecret);
  }
  for (const ref of runtime.credentials.ruleKeys.values()) add(ref);
  return [...refs];
}

/** The parts of a configuration that the token verifier is built from. */
export function identityConfig(config: Config): unknown {
  return { trust: config.trust, tokens: config.tokens, issuers: config.issuers };
}

export function openTokenVerifier(config: Config, log?: Logger, gateway?: GatewayTokenKeys): TokenVerifier {
  const bundleOptions = { minRefreshMs: config.tokens.minBundleRefresh, fetchTimeoutMs: config.tokens.fetchTimeout, ...(log ? { log } : {}) };
  const bundle = (name: string, source: BundleSource) => new JwtBundle(name, source, bundleOptions);
  const trustDomains = new Map<string, TrustDomainTokens>();
  for (const [name, td] of Object.entries(config.trust)) {
    if (!td.bundle) continue;
    trustDomains.set(name, { bundle: bundle(`trust domain ${name}`, td.bundle), audiences: td.audiences ?? [], maxLifetimeMs: td.maxTokenLifetime, clockSkewMs: td.clockSkew });
  }
  const kubernetes: KubernetesIssuer[] = [];
  let person: PersonIssuer | undefined;
  for (const issuer of config.issuers) {
    if (issuer.kind === 'kubernetes') {
      kubernetes.push({
        name: issuer.name,
        issuer: issuer.issuer,
        bundle: bundle(`issuer ${issuer.name}`, issuer.jwks),
        audiences: issuer.audiences,
        identityTemplate: issuer.identity ?? `spiffe://${issuer.trustDomain}/ns/{namespace}/sa/{serviceaccount}`,
        maxLifetimeMs: issuer.maxTokenLifetime,
        clockSkewMs: issuer.clockSkew,
      });
    } else {
      person = {
        name: issuer.name,
        issuer: issuer.issuer,
        bundle: bundle(`issuer ${issuer.name}`, issuer.jwks),
        audiences: issuer.audiences,
        header: issuer.header,
        groupsClaim: issuer.groupsClaim,
        maxLifetimeMs: issuer.maxTokenLifetime,
        clockSkewMs: issuer.clockSkew,
      };
    }
  }
  return new TokenVerifier({ trustDomains, kubernetes, person, tokenHeaders: config.tokens.headers, cacheEntries: config.tokens.cacheEntries, gateway });
}

export function openKeyStore(keys: Config['keys'], log?: Logger, previous?: KeyStore): KeyStore {
  switch (keys.store) {
    case 'file':
      return new FileKeyStore(keys.file, log ? { log } : {});
    case 'env':
      return new EnvKeyStore(keys.prefix);
    case 'vault': {
      const settings = {
        address: keys.address,
        mount: keys.mount,
        field: keys.field,
        namespace: keys.namespace,
        caFile: keys.caFile,
        auth: keys.auth,
        refreshMs: keys.refreshInterval,
        maxStalenessMs: keys.maxStaleness,
        timeoutMs: keys.timeout,
      };
      // The same Vault, mount and field: the keys it confirmed stay good until their
      // staleness bound, whatever else (auth, intervals) the new configuration changed.
      const carried = previous instanceof VaultKeyStore && previous.source === VaultKeyStore.sourceOf(settings) ? previous.carry() : undefined;
      return new VaultKeyStore(settings, { ...(log ? { log } : {}), ...(carried ? { carried } : {}) });
    }
  }
}
