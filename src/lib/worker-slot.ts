/**
 * Under `serve --workers N`, each worker's stable slot (0…N-1, kept across restarts), set
 * in its environment by the primary; 0 for a single process.
 */
export const WORKER_SLOT_ENV = 'KEYBROKER_WORKER_SLOT';

export function workerSlot(env: NodeJS.ProcessEnv = process.env): number {
  return Number(env[WORKER_SLOT_ENV] ?? 0) || 0;
}

/** What a worker sends its primary when a reload it applied must reach every worker. */
export const RELOAD_ALL_WORKERS = { keybroker: 'reload-all-workers' } as const;
