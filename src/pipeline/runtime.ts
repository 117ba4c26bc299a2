/**
 * A Runtime is one validated configuration made ready to serve: destinations resolved,
 * policy compiled, key store open. Reloads build a whole new Runtime and swap it in only
 * when every part of it built (invariant 8).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.ts';
import { injectionFor } from '../credentials/templates.ts';
import { headersToStrip } from '../credentials/strip.ts';
import { FileKeyStore } from '../credentials/file-store.ts';
import { EnvKeyStore } from '../credentials/env-store.ts';
import type { KeyStore } from '../credentials/store.ts';
import type { Destination } from './types.ts';

export interface Runtime {
  readonly config: Config;
  readonly trustDomains: ReadonlySet<string>;
  readonly destinations: ReadonlyMap<string, Destination>;
  readonly policy: CompiledPolicy;
  readonly keys: KeyStore;
}

export function buildRuntime(config: Config, options: { log?: Logger; keys?: KeyStore } = {}): Runtime {
  const destinations = new Map<string, Destination>();
  for (const [name, d] of Object.entries(config.destinations)) {
    const injection = injectionFor(d.inject);
    destinations.set(name, {
      name,
      upstream: d.upstream,
      authorities: [d.upstream, ...(d.authorities ?? [])],
      routePrefix: d.routePrefix ?? '',
      injection,
      keyRef: d.key,
      classification: d.classification,
      stripHeaders: headersToStrip(injection.header),
    });
  }
  const policy = compilePolicy(config.policy, { destinations: config.destinations, policy: config.policy });
  return {
    config,
    trustDomains: new Set(Object.keys(config.trust)),
    destinations,
    policy,
    keys: options.keys ?? openKeyStore(config.keys, options.log),
  };
}

export function openKeyStore(keys: Config['keys'], log?: Logger): KeyStore {
  switch (keys.store) {
    case 'file':
      return new FileKeyStore(keys.file, log ? { log } : {});
    case 'env':
      return new EnvKeyStore(keys.prefix);
  }
}
