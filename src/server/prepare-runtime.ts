/**
 * The one way a configuration becomes a Runtime, for `validate`, start-up and reloads
 * alike, so that a reload can never apply what `validate` refuses: the listen rules
 * (Check's, invariant 2; the admin and token listeners'), then everything `buildRuntime`
 * checks (policy, destinations, bundles files, key store settings).
 */
import type { Config } from '../config/schema.ts';
import { buildRuntime, type Runtime, type RuntimeParts } from '../pipeline/runtime.ts';
import type { ListenAddress } from './listen.ts';
import { parseListeners, type Listeners } from './listeners.ts';

export function prepareRuntime(config: Config, parts: RuntimeParts = {}): { listen: ListenAddress; listeners: Listeners; runtime: Runtime } {
  const listeners = parseListeners(config);
  return { listen: listeners.check, listeners, runtime: buildRuntime(config, parts) };
}
