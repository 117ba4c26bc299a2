/**
 * The stores a runtime's limits are counted in, opened once and carried across reloads
 * that leave `store` and `onStoreError` alone, so a reload never forgets what was used.
 */
import type { Logger } from 'pino';
import { canonicalJson } from '../lib/canonical-json.ts';
import { MemoryLimitStore } from './memory-store.ts';
import { logOperatorActions } from './log-operator-actions.ts';
import { RedisLimitStore } from './redis-store.ts';
import type { LimitsConfig } from './schema.ts';
import type { LimitStore } from './types.ts';

export interface LimitStores {
  /** What the stores were opened from; equal text, same stores. */
  readonly identity: string;
  readonly primary: LimitStore;
  /** Per-replica counting while Redis is unavailable (`onStoreError: local`). */
  readonly local?: MemoryLimitStore;
  /**
   * Resolves true once the primary store answers (at once for memory), false when Redis
   * did not connect within its `connectTimeout`.
   */
  ready(): Promise<boolean>;
  /** One more runtime uses these stores (a reload that kept them). */
  retain(): LimitStores;
  /** A runtime is done with them; the last one closes them. */
  close(): Promise<void>;
}

export function storesIdentity(config: LimitsConfig): string {
  return canonicalJson({ store: config.store, onStoreError: config.onStoreError });
}

/** `log`: the process logger, for the store's warnings and operators' actions (a serving runtime; `validate` passes none). */
export function openLimitStores(config: LimitsConfig, log?: Logger): LimitStores {
  const redis = config.store === 'memory' ? undefined : new RedisLimitStore(config.store.redis, log);
  const primary: LimitStore = redis ?? new MemoryLimitStore();
  const local = config.store !== 'memory' && config.onStoreError === 'local' ? new MemoryLimitStore() : undefined;
  const stopLogging = redis && log ? logOperatorActions(redis, log) : undefined;
  let users = 1;
  const stores: LimitStores = {
    identity: storesIdentity(config),
    primary,
    ...(local ? { local } : {}),
    ready: () => (redis && config.store !== 'memory' ? redis.ready(config.store.redis.connectTimeout) : Promise.resolve(true)),
    retain() {
      users++;
      return stores;
    },
    async close() {
      if (--users > 0) return;
      stopLogging?.();
      await Promise.all([primary.close(), local?.close()]);
    },
  };
  return stores;
}
