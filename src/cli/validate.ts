/** `keybroker validate`: everything `serve` checks before it binds. */
import { loadConfigFile } from '../config/load.ts';
import { ConfigError } from '../config/errors.ts';
import { releaseRuntime } from '../pipeline/runtime.ts';
import { prepareRuntime } from '../server/prepare-runtime.ts';
import { exposureWarning } from '../server/listen.ts';
import { EXIT, parseOptions, required, type Command } from './command.ts';
import { lint, type Finding } from '../review/lint.ts';
import { formatFinding } from './lint.ts';
import { KeyFileMissingError } from '../credentials/file-store.ts';
import { keysNotRead } from '../review/keys-not-read.ts';
import { demoKeysHint } from './demo-paths.ts';

export interface Validation {
  readonly file: string;
  readonly policyVersion: string;
  readonly rules: number;
  readonly destinations: number;
  /** Accepted, but worth a person's attention (a missing key file, `listen.ts`'s exposure warning). */
  readonly warnings: readonly string[];
  /** `keybroker lint`'s findings: printed, never a reason to refuse the file. */
  readonly findings: readonly Finding[];
}

/**
 * Throws ConfigError (or a key store / listen error) when the file would not serve. A key
 * file that does not exist is a warning, not a refusal: it holds the keys, so it is often
 * mounted only where keybroker runs (a fresh clone has the demo's only after `npm start`),
 * and the configuration is checked all the same; `serve` refuses to start without it.
 */
export function validate(configFile: string): Validation {
  const loaded = loadConfigFile(configFile);
  const config = loaded.config;
  const warnings: string[] = [];
  let prepared: ReturnType<typeof prepareRuntime>;
  try {
    prepared = prepareRuntime(config);
  } catch (error) {
    if (!(error instanceof KeyFileMissingError)) throw error;
    warnings.push(`${error.message}; serve refuses to start until it exists${demoKeysHint(error.file)}`);
    prepared = prepareRuntime(config, { keys: keysNotRead });
  }
  const { listen, runtime } = prepared;
  releaseRuntime(runtime);
  const exposure = exposureWarning(listen, Object.keys(config.trust));
  if (exposure) warnings.push(exposure);
  return {
    file: configFile,
    policyVersion: runtime.policy.version,
    rules: runtime.policy.ruleCount,
    destinations: runtime.destinations.size,
    warnings,
    findings: lint(loaded),
  };
}

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a configuration file as serve would, without serving',
  help: `usage: keybroker validate -c FILE [--json]

Loads the file, its schema, its policy, its key store and its trust bundles exactly as
serve does before it binds; a key file that does not exist yet is a warning (serve
refuses to start without it). Problems name the file, the line and the path inside the
document, with what was expected (and "did you mean" for a misspelt key). What
keybroker lint finds is printed too (on stderr), without changing the exit code.

options:
  -c, --config FILE   the configuration file
  --json              {"file","valid","policyVersion","rules","destinations","warnings","findings"} or
                      {"file","valid":false,"problems":[{"path","line","message"}]}
  -h, --help          this text

exit codes: 0 valid, 1 invalid, 2 usage`,
  async run(args, io) {
    const values = parseOptions(args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean', default: false } });
    required(values, 'config');
    if (!values.json) {
      const v = validate(values.config);
      for (const warning of v.warnings) io.err(`WARNING: ${warning}`);
      for (const finding of v.findings) io.err(formatFinding(finding));
      io.out(`${v.file}: valid (policy ${v.policyVersion}, ${v.rules} rules, ${v.destinations} destinations)`);
      return EXIT.ok;
    }
    try {
      io.out(JSON.stringify({ ...validate(values.config), valid: true }));
      return EXIT.ok;
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [{ path: '', message: (error as Error).message }];
      io.out(JSON.stringify({ file: values.config, valid: false, problems }));
      return EXIT.error;
    }
  },
};
