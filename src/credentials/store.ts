import type { Secret } from './secret.ts';

/** Where provider keys come from. `get` resolves a key reference such as `openai/prod`. */
export interface KeyStore {
  readonly kind: string;
  get(ref: string): Secret | Promise<Secret>;
  /** Fetch these keys ahead of the first Check that needs them (remote stores). */
  warm?(refs: readonly string[]): Promise<void>;
  /** Whether `ref` can be served now without waiting (remote stores: cached within its staleness bound). */
  holds?(ref: string): boolean;
  /** Age in ms of the oldest value served from cache (remote stores). */
  staleness?(): number;
  close(): void;
}

/** The key cannot be served: missing, unreadable, stale beyond its limit. Never carries a value. */
export class KeyUnavailableError extends Error {
  override readonly name = 'KeyUnavailableError';
  readonly code = 'ERR_KEY_UNAVAILABLE';
  readonly ref: string;
  /** The store answered that it has no such key (not that it could not be asked). */
  readonly absent: boolean;

  constructor(ref: string, why: string, absent = false) {
    super(`key "${ref}" is unavailable: ${why}`);
    this.ref = ref;
    this.absent = absent;
  }
}
