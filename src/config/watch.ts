/**
 * Reloading the configuration while serving. A new file is applied only if it loads,
 * validates and builds whole; otherwise the last good configuration stays in force and
 * the rejection is logged and counted (invariant 8).
 */
import { unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';
import { loadConfigFile } from './load.ts';
import type { Config } from './schema.ts';

export interface ReloadStats {
  applied: number;
  rejected: number;
}

export interface ConfigWatcher {
  readonly stats: Readonly<ReloadStats>;
  /** Why the last rejected reload was rejected (cleared by an applied one). */
  readonly lastError: string | undefined;
  /** Reload now (SIGHUP, tests). Resolves to whether the new configuration took effect. */
  reload(): Promise<boolean>;
  close(): void;
}

/**
 * `apply` builds and swaps in the new configuration; if it throws, nothing changed.
 * The file is polled every `intervalMs` (0: only explicit reloads such as SIGHUP).
 */
export function watchConfig(file: string, apply: (config: Config) => Promise<void>, log: Logger, intervalMs = 1000): ConfigWatcher {
  const stats: ReloadStats = { applied: 0, rejected: 0 };
  let lastError: string | undefined;
  // One reload at a time, in order: a burst of file changes must not race two swaps.
  let queue: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<boolean> => {
    const next = queue.then(() => reloadOnce());
    queue = next;
    return next;
  };
  const reloadOnce = async (): Promise<boolean> => {
    try {
      await apply(loadConfigFile(file).config);
      stats.applied++;
      lastError = undefined;
      log.info({ file, reloads: stats }, 'configuration reloaded');
      return true;
    } catch (error) {
      stats.rejected++;
      lastError = (error as Error).message;
      log.error({ file, err: (error as Error).message, reloads: stats }, 'configuration reload rejected; the last good configuration stays in force');
      return false;
    }
  };
  if (intervalMs > 0) {
    watchFile(file, { interval: intervalMs, persistent: false }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) void reload();
    });
  }
  return {
    stats,
    get lastError() {
      return lastError;
    },
    reload,
    close: () => unwatchFile(file),
  };
}
