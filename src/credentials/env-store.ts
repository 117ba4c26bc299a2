/**
 * Keys from environment variables: `openai/prod` is read from `<prefix>OPENAI_PROD`.
 * Read once at start; the environment of a running process does not change.
 */
import { checkKeyValue, Secret } from './secret.ts';
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
      const value = this.#env[variable];
      const problem = value === undefined ? 'is not set' : checkKeyValue(value);
      entry = problem ? `environment variable ${variable} ${problem}` : new Secret('env', ref, value as string);
      this.#keys.set(ref, entry);
    }
    if (typeof entry === 'string') throw new KeyUnavailableError(ref, entry);
    return entry;
  }

  close(): void {}
}

export function envVariableFor(prefix: string, ref: string): string {
  return prefix + ref.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
