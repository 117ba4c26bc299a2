/**
 * The one way a configuration becomes a Runtime, for `validate`, start-up and reloads
 * alike, so that a reload can never apply what `validate` refuses: the listen rule
 * (invariant 2), then everything `buildRuntime` checks (policy, destinations, bundles
 * files, key store settings).
 */
import type { Config } from '../config/schema.ts';
import { buildRuntime, type Runtime, type RuntimeParts } from '../pipeline/runtime.ts';
import { parseListen, type ListenAddress } from './listen.ts';

export function prepareRuntime(config: Config, parts: RuntimeParts = {}): { listen: ListenAddress; runtime: Runtime } {
  const listen = parseListen(config.listen);
  return { listen, runtime: buildRuntime(config, parts) };
}
