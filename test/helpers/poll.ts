/**
 * Retry `attempt` until it returns (it throws for "not yet"), every `intervalMs`, for at
 * most `timeoutMs`; then rethrow its last error, wrapped by `describe` when given.
 * `stop` ends the wait early with an error of its own (a process that exited, say).
 */
export async function poll<T>(attempt: () => T | Promise<T>, options: { timeoutMs: number; intervalMs?: number; stop?: () => Error | undefined; describe?: (last: unknown) => Error }): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const stopped = options.stop?.();
    if (stopped) throw stopped;
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw options.describe ? options.describe(error) : error;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
  }
}

/** For `poll`: a process that exits while being waited for. */
export function exitWatch(exited: Promise<unknown>, error: () => Error): () => Error | undefined {
  let done = false;
  void exited.then(() => (done = true));
  return () => (done ? error() : undefined);
}
