/**
 * Reloading the configuration while serving. A new file is applied only if it loads,
 * validates and builds whole; otherwise the last good configuration stays in force and
 * the rejection is logged and counted (invariant 8).
 *
 * What is watched is everything the configuration was read from: the file, the policy
 * files it includes, and the include patterns themselves, so a policy file added to or
 * removed from `policy.d/` is picked up as an edit is.
 */
import { globSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadConfigFile, type LoadedConfig } from './load.ts';
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
  /** Stops polling; resolves once a reload already under way has finished (applied or not). */
  close(): Promise<void>;
}

type Watched = LoadedConfig['watched'];

/**
 * `apply` builds and swaps in the new configuration; if it throws, nothing changed.
 * What `loaded` was read from is polled every `intervalMs` (0: only explicit reloads
 * such as SIGHUP).
 */
export function watchConfig(loaded: Pick<LoadedConfig, 'file' | 'watched'>, apply: (config: Config) => Promise<void>, log: Logger, intervalMs = 1000): ConfigWatcher {
  const file = loaded.file;
  const stats: ReloadStats = { applied: 0, rejected: 0 };
  let lastError: string | undefined;
  let watched = loaded.watched;
  let seen = fingerprint(watched);
  // One reload at a time, in order: a burst of file changes must not race two swaps.
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  const reload = (): Promise<boolean> => {
    // Closed: the runtime is being released, and nothing may replace it now.
    if (closed) return Promise.resolve(false);
    const next = queue.then(() => reloadOnce());
    queue = next;
    return next;
  };
  const reloadOnce = async (): Promise<boolean> => {
    try {
      const next = loadConfigFile(file);
      // Watch what this attempt read, applied or not: fixing a broken include is a change too.
      watched = next.watched;
      seen = fingerprint(watched);
      await apply(next.config);
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
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (fingerprint(watched) !== seen) void reload();
        }, intervalMs)
      : undefined;
  timer?.unref();
  return {
    stats,
    get lastError() {
      return lastError;
    },
    reload,
    close: async () => {
      closed = true;
      clearInterval(timer);
      await queue.catch(() => undefined);
    },
  };
}

/** What changes when a watched file is edited, added or removed. */
function fingerprint(watched: Watched): string {
  const parts: string[] = [];
  for (const f of watched.files) {
    try {
      const s = statSync(f);
      parts.push(`${f}:${s.mtimeMs}:${s.size}`);
    } catch {
      parts.push(`${f}:absent`);
    }
  }
  for (const pattern of watched.patterns) {
    if (pattern.includes('*')) parts.push(`${pattern}=${globSync(pattern).sort().join(',')}`);
  }
  return parts.join('\n');
}
