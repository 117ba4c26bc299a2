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
