/**
 * `keybroker limits set|reset` runs outside the keybrokers; what it changes, every replica
 * enforces at once. So that the change also lands in the decision log — who, what, when,
 * beside the decisions it affects — each replica polls the store's audit stream and logs
 * the actions it is handed; the stream is read as one consumer group, so each action is
 * logged once across all replicas (by whichever reads it first), not once per replica.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { RedisLimitStore } from './redis-store.ts';

const POLL_MS = 1000;

/** Starts logging operators' actions from `store`; returns how to stop. */
export function logOperatorActions(store: RedisLimitStore, log: Logger, pollMs = POLL_MS): () => void {
  const consumer = `${hostname()}:${process.pid}`;
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    store
      .unloggedNotes(consumer)
      .then((notes) => {
        for (const audit of notes) log.info({ audit }, audit['action'] === 'limits reset' ? 'limit reset' : 'limit override set');
      })
      // The store is down: the next poll reads what was missed (the stream keeps it); the outage itself is logged by the store.
      .catch(() => undefined)
      .finally(() => {
        polling = false;
      });
  }, pollMs);
  timer.unref();
  return () => clearInterval(timer);
}
