/**
 * Keys from environment variables: `openai/prod` is read from `<prefix>OPENAI_PROD`, and
 * its fields, if it has any, from `<prefix>OPENAI_PROD__<FIELD>` (`${key.sid}` from
 * `…__SID`; field names are lower-cased). Read once per key; the environment of a
 * running process does not change.
 */
import { isProblem, readSecretValue, Secret, type SecretValue } from './secret.ts';
import { KeyUnavailableError, type KeyStore } from './store.ts';

export class EnvKeyStore implements KeyStore {
  readonly kind = 'env';
  readonly #prefix: string;
  readonly #keys = new Map<string, Secret | string>();
  readonly #env: NodeJS.ProcessEnv;

  constructor(prefix: string, env: NodeJS.ProcessEnv = process.env) {
    this.#prefix = prefix;
    this.#env = env;
  }

  get(ref: string): Secret {
    let entry = this.#keys.get(ref);
    if (entry === undefined) {
      const variable = envVariableFor(this.#prefix, ref);
      const value = readEnvSecret(this.#env, variable);
      entry = isProblem(value) ? value.problem : new Secret('env', ref, value);
      this.#keys.set(ref, entry);
    }
    if (typeof entry === 'string') throw new KeyUnavailableError(ref, entry);
    return entry;
  }

  close(): void {}
}

function readEnvSecret(env: NodeJS.ProcessEnv, variable: string): SecretValue | { problem: string } {
  const value = env[variable];
  const fieldPrefix = `${variable}__`;
  const fields: Record<string, string | undefined> = {};
  for (const [name, fieldValue] of Object.entries(env)) {
    if (name.startsWith(fieldPrefix)) fields[name.slice(fieldPrefix.length).toLowerCase()] = fieldValue;
  }
  if (Object.keys(fields).length === 0) {
    if (value === undefined) return { problem: `environment variable ${variable} is not set` };
    const single = readSecretValue(value);
    return isProblem(single) ? { problem: `environment variable ${variable} ${single.problem}` } : single;
  }
  if (value !== undefined) return { problem: `environment variables ${variable} and ${fieldPrefix}* are both set: a key has one value or fields, not both` };
  const read = readSecretValue(fields);
  return isProblem(read) ? { problem: `environment variables ${fieldPrefix}*: ${read.problem}` } : read;
}

export function envVariableFor(prefix: string, ref: string): string {
  return prefix + ref.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
