/**
 * Keys from a YAML file of `key-path: value`, where a value may also be a mapping of
 * fields (`twilio/prod: { sid: …, secret: … }`). The file must be private to its owner
 * (0600 or stricter): a key file readable by group or others is refused. The file is
 * watched; a changed file that fails to load leaves the last good keys in force.
 */
import { readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import { parse } from 'yaml';
import type { Logger } from 'pino';
import { isProblem, readSecretValue, Secret } from './secret.ts';
import { KeyUnavailableError, type KeyStore } from './store.ts';

const KEY_PATH = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export class FileKeyStore implements KeyStore {
  readonly kind = 'file';
  readonly #file: string;
  readonly #log: Logger | undefined;
  #keys: ReadonlyMap<string, Secret> = new Map();
  #loadError: string | undefined;

  constructor(file: string, options: { log?: Logger; watchIntervalMs?: number } = {}) {
    this.#file = file;
    this.#log = options.log;
    this.#keys = readKeyFile(file); // the first load throws: a broken key file stops startup
    if (options.watchIntervalMs !== 0) {
      watchFile(file, { interval: options.watchIntervalMs ?? 1000, persistent: false }, () => this.reload());
    }
  }

  get(ref: string): Secret {
    const secret = this.#keys.get(ref);
    if (!secret) throw new KeyUnavailableError(ref, this.#loadError ? `not in ${this.#file} (last reload failed: ${this.#loadError})` : `not in ${this.#file}`, true);
    return secret;
  }

  /** Re-reads the file; on failure keeps the keys it had. Returns whether the new file took effect. */
  reload(): boolean {
    try {
      this.#keys = readKeyFile(this.#file);
      this.#loadError = undefined;
      this.#log?.info({ file: this.#file, keys: this.#keys.size }, 'key file reloaded');
      return true;
    } catch (error) {
      this.#loadError = (error as Error).message;
      this.#log?.error({ file: this.#file, err: this.#loadError }, 'key file reload rejected; keeping the last good keys');
      return false;
    }
  }

  close(): void {
    unwatchFile(this.#file);
  }
}

/** The key file does not exist (a start or a first explain before it was created). */
export class KeyFileMissingError extends Error {
  override readonly name = 'KeyFileMissingError';
  readonly code = 'ERR_KEY_FILE_MISSING';
  readonly file: string;

  constructor(file: string) {
    super(`key file ${file} does not exist; create it with mode 0600, one "key/path: value" line per key`);
    this.file = file;
  }
}

export function readKeyFile(file: string): Map<string, Secret> {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new KeyFileMissingError(file);
    throw error;
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new Error(`key file ${file} is readable or writable by group or others (mode ${(stat.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
  }
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'), { uniqueKeys: true, maxAliasCount: 0 });
  } catch (error) {
    // The YAML parser quotes source text in its messages, and that text is keys: say only where.
    const line = (error as { linePos?: [{ line: number }] }).linePos?.[0]?.line;
    throw new Error(`key file ${file} is not valid YAML${line ? ` (line ${line})` : ''}`);
  }
  if (doc === null || doc === undefined) return new Map();
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`key file ${file} must be a mapping of key path to value`);
  const keys = new Map<string, Secret>();
  for (const [path, value] of Object.entries(doc)) {
    if (!KEY_PATH.test(path)) throw new Error(`key file ${file}: "${path}" is not a key path such as "openai/prod"`);
    const secret = readSecretValue(value);
    if (isProblem(secret)) throw new Error(`key file ${file}: the value of "${path}" ${secret.problem}`);
    keys.set(path, new Secret('file', path, secret));
  }
  return keys;
}
