import { loadConfigFile } from '../config/load.ts';
import { buildRuntime } from '../pipeline/runtime.ts';
import { parseListen } from '../server/listen.ts';

/** `keybroker validate -c FILE`: everything `serve` checks before it binds. Returns the exit code. */
export function validate(configFile: string, out: (line: string) => void): number {
  const { config } = loadConfigFile(configFile);
  parseListen(config.listen);
  const runtime = buildRuntime(config);
  runtime.keys.close();
  runtime.tokens.close();
  out(`${configFile}: valid (policy ${runtime.policy.version}, ${runtime.policy.ruleCount} rules, ${runtime.destinations.size} destinations)`);
  return 0;
}
