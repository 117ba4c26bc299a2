/**
 * Verified tokens, keyed by a hash of the token (never the token itself), bounded in
 * entries (least recently used goes first). An entry is good until the token's `exp`,
 * and only while the key that signed it is still in its bundle.
 */
import { hash } from 'node:crypto';

export interface CachedVerification<T> {
  readonly value: T;
  /** Token expiry, ms since the epoch. */
  readonly expiresAt: number;
  /** Still valid only while this returns true (the signing key is still trusted). */
  readonly stillTrusted: () => boolean;
}

export class TokenCache<T> {
  readonly #entries = new Map<string, CachedVerification<T>>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  static keyOf(token: string): string {
    return hash('sha256', token, 'base64url');
  }

  get(key: string, now = Date.now()): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now || !entry.stillTrusted()) {
      this.#entries.delete(key);
      return undefined;
    }
    // Re-insert: Map iteration order is insertion order, so the oldest is evicted first.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, entry: CachedVerification<T>): void {
    if (this.#maxEntries <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
