/**
 * Keys from environment variables: `openai/prod` is read from `<prefix>OPENAI_PROD`, and
 * its fields, if it has any, from `<prefix>OPENAI_PROD__<FIELD>` (`${key.sid}` from
 * `…__SID`; field names are lower-cased). Read once per key; the environment of a
 * running process does not change.
 *
 * The mapping is not one-to-one: `openai/ml-ops`, `openai/ml_ops` and `openai/ML.OPS` all
 * name OPENAI_ML_OPS, and `twilio/prod/_sid` names a field of `twilio/prod`. Two
 * references in use that read the same variables would silently share a key — one team
 * served another's — so neither is served (`warm`, at start and reload, claims every
 * reference the configuration can ask for, so this holds from the first Check).
 */
import { isProblem, readSecretValue, Secret, type SecretValue } from './secret.ts';
import { KeyUnavailableError, type KeyStore } from './store.ts';

export class EnvKeyStore implements KeyStore {
  readonly kind = 'env';
  readonly #prefix: string;
  readonly #keys = new Map<string, Secret | string>();
  readonly #env: NodeJS.ProcessEnv;
  /** Variable → the reference that reads it (the first to claim it). */
  readonly #claims = new Map<string, string>();

  constructor(prefix: string, env: NodeJS.ProcessEnv = process.env) {
    this.#prefix = prefix;
    this.#env = env;
  }

  /** Claims every reference up front, so a shared variable is caught before any is served. */
  async warm(refs: readonly string[]): Promise<void> {
    for (const ref of refs) this.#claim(ref);
  }

  get(ref: string): Secret {
    let entry = this.#keys.get(ref);
    if (entry === undefined) {
      this.#claim(ref);
      entry = this.#keys.get(ref);
    }
    if (entry === undefined) {
      const variable = envVariableFor(this.#prefix, ref);
      const value = readEnvSecret(this.#env, variable);
      entry = isProblem(value) ? value.problem : new Secret('env', ref, value);
      this.#keys.set(ref, entry);
    }
    if (typeof entry === 'string') throw new KeyUnavailableError(ref, entry, true);
    return entry;
  }

  close(): void {}

  /**
   * Records that `ref` reads its variable. Another reference reading the same variables
   * (the same name, or one's name and the other's fields) makes both unavailable, for good.
   */
  #claim(ref: string): void {
    const variable = envVariableFor(this.#prefix, ref);
    if (this.#claims.get(variable) === ref) return;
    for (const [claimed, other] of this.#claims) {
      if (other === ref) continue;
      if (claimed === variable || variable.startsWith(`${claimed}__`) || claimed.startsWith(`${variable}__`)) {
        const [a, b] = [ref, other].sort() as [string, string];
        const shared = claimed === variable ? variable : `${claimed.length > variable.length ? claimed : variable}, as a key and as a field,`;
        const why = `"${a}" and "${b}" both read ${shared} (the environment store upper-cases a reference and turns every other character into "_"): name the keys apart`;
        this.#keys.set(ref, why);
        this.#keys.set(other, why);
        return;
      }
    }
    this.#claims.set(variable, ref);
  }
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
