/**
 * A reload: the new configuration is checked as `validate` checks it, made ready whole —
 * bundles loaded, keys warmed — and only then handed back to be swapped in (invariant 8).
 * What it does not change carries over: the token verifier and key store when their
 * settings are equal, and otherwise the keys the old store still holds within their
 * staleness bound (the same Vault), so a reload during an outage loses nothing.
 * Settings read once at start (listen, telemetry, log) cannot change on reload: a file
 * that changes them is refused, with what to do, rather than half applied.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { canonicalJson } from '../lib/canonical-json.ts';
import { identityConfig, keysToWarm, retirePhaseStates, type Runtime } from '../pipeline/runtime.ts';
import type { KeyStore } from '../credentials/store.ts';
import { isPromise } from '../lib/maybe-async.ts';
import { prepareRuntime } from './prepare-runtime.ts';
import type { GatewayTokenKeys } from '../identity/gateway-token.ts';

export class ReloadRefusedError extends Error {
  override readonly name = 'ReloadRefusedError';
  readonly code = 'ERR_RELOAD_REFUSED';
}

/** Top-level settings that take effect only when keybroker starts. */
export const RESTART_ONLY = ['listen', 'admin', 'gatewayTokens', 'telemetry', 'log'] as const;

/** Builds the runtime for `next`; throws (having released what it opened) if it is not fit to serve. */
export async function reloadRuntime(current: Runtime, next: Config, log: Logger, gateway?: GatewayTokenKeys): Promise<Runtime> {
  const sameKeys = canonicalJson(next.keys) === canonicalJson(current.config.keys);
  const sameIdentity = canonicalJson(identityConfig(next)) === canonicalJson(identityConfig(current.config));
  const { runtime: built } = prepareRuntime(next, {
    log,
    gateway,
    previous: current,
    ...(sameKeys ? { keys: current.keys } : {}),
    ...(sameIdentity ? { tokens: current.tokens } : {}),
  });
  const release = () => {
    if (!sameKeys) built.keys.close();
    if (!sameIdentity) built.tokens.close();
    retirePhaseStates(built, current);
  };
  try {
    // After `validate`'s checks (in prepareRuntime), so a file both invalid and moved is
    // refused for what is wrong with it.
    const restart = RESTART_ONLY.filter((field) => canonicalJson(next[field]) !== canonicalJson(current.config[field]));
    if (restart.length > 0) {
      throw new ReloadRefusedError(
        `${restart.join(', ')} changed: ${restart.length > 1 ? 'they take' : 'it takes'} effect only at start; restart keybroker to apply this file (nothing in it was applied)`,
      );
    }
    if (!sameIdentity) {
      // New bundles must hold keys before they decide anything: a URL source that cannot
      // be read rejects the reload rather than swapping in an empty trust store.
      await built.tokens.ready();
      const empty = built.tokens
        .bundles()
        .filter((b) => !b.keySet())
        .map((b) => b.name);
      if (empty.length > 0) throw new ReloadRefusedError(`could not load ${empty.join(', ')}`);
    }
    // Warm before the swap: every key the running configuration serves, the new one must
    // serve too (read now, or carried within its staleness bound), or the reload would
    // turn working routes into 503s — an unreachable Vault, say.
    const refs = keysToWarm(built);
    await built.keys.warm?.(refs);
    const lost = refs.filter((ref) => servesNow(current.keys, ref) && !servesNow(built.keys, ref));
    if (lost.length > 0) throw new ReloadRefusedError(`the new ${built.keys.kind} key store could not provide ${lost.map((r) => `"${r}"`).join(', ')}, which the running configuration serves`);
    return built;
  } catch (error) {
    release();
    throw error;
  }
}

/** Whether `store` can answer for `ref` without waiting: cached within bounds, or local. */
function servesNow(store: KeyStore, ref: string): boolean {
  if (store.holds) return store.holds(ref);
  try {
    const secret = store.get(ref);
    if (isPromise(secret)) {
      secret.catch(() => undefined);
      return false;
    }
    return true;
  } catch {
    return false;
  }
}
