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

export { KeyUnavailableError } from './key-unavailable.ts';
