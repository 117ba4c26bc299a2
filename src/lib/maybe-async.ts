/**
 * A value now, or later. The Check pipeline stays synchronous when nothing needs to wait
 * (a cached token, an in-memory key): each await is a turn of the event loop per request.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/** `next(value)` now if `value` is here, else when it arrives. */
export function then<T, U>(value: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return isPromise(value) ? value.then(next) : next(value);
}
