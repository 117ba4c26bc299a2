/**
 * `serve --workers N`: N keybroker processes sharing one listener, one event loop each.
 *
 * The primary process decides nothing. It validates the configuration once, forks the
 * workers (node:cluster: the primary owns the listening socket and hands connections to
 * the workers in turn), relays signals (SIGHUP reloads every worker, SIGTERM/SIGINT drain
 * them) and an admin-API reload from one worker to the others, restarts a worker that dies, and gives up (exit 1) on a crash loop rather than
 * serve with fewer workers than asked forever. Each worker is a whole keybroker: its own
 * runtime, key store cache, token cache, telemetry; see docs/scaling.md for what that
 * means for Vault load and metrics.
 *
 * Worker output is relayed line by line: several processes writing batches larger than a
 * pipe's atomic write size to one stdout could interleave inside a JSON line.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { RELOAD_ALL_WORKERS, WORKER_SLOT_ENV } from '../lib/worker-slot.ts';

const CRASH_WINDOW_MS = 60_000;
const MAX_CRASHES = 5;
const RESTART_DELAY_MS = 500;

/**
 * The CPUs this process may use: its CPU affinity and, when it runs under a cgroup v2 CPU
 * limit (a container's `resources.limits.cpu`), that quota rounded up.
 */
export function availableCpus(cpuMaxFile = '/sys/fs/cgroup/cpu.max'): number {
  let cpus = availableParallelism();
  try {
    const [quota, period] = readFileSync(cpuMaxFile, 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && Number(period) > 0) cpus = Math.min(cpus, Math.max(1, Math.ceil(Number(quota) / Number(period))));
  } catch {
    // no cgroup v2 limit visible: affinity alone
  }
  return cpus;
}

export interface SupervisorOptions {
  readonly workers: number;
  /** Where relayed worker output goes (default: this process's stdout and stderr). */
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  /** Upper bound on a worker's drain (its drain delay plus grace) before it is killed. */
  readonly stopTimeoutMs: number;
}

/** Runs in the primary: keeps `workers` workers running until SIGTERM/SIGINT; resolves with the exit code. */
export function superviseWorkers(options: SupervisorOptions): Promise<number> {
  const out = options.stdout ?? process.stdout;
  const err = options.stderr ?? process.stderr;
  const note = (msg: string, fields: Record<string, unknown> = {}) => out.write(`${JSON.stringify({ level: 30, time: Date.now(), service: 'keybroker', role: 'primary', ...fields, msg })}\n`);

  cluster.setupPrimary({ silent: true });
  const slots = new Map<Worker, number>();
  const crashes: number[] = [];
  let stopping = false;

  const fork = (slot: number) => {
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot) });
    slots.set(worker, slot);
    // A reload through the admin API reaches one worker; it asks for the others.
    worker.on('message', (message: unknown) => {
      if ((message as { keybroker?: string } | null)?.keybroker !== RELOAD_ALL_WORKERS.keybroker) return;
      for (const other of slots.keys()) if (other !== worker) other.process.kill('SIGHUP');
    });
    relayLines(worker.process.stdout, out);
    relayLines(worker.process.stderr, err);
  };

  return new Promise((resolve) => {
    const finishIfDone = () => {
      if (stopping && slots.size === 0) {
        process.off('SIGHUP', reload);
        resolve(exitCode);
      }
    };
    let exitCode = 0;
    cluster.on('exit', (worker, code, signal) => {
      const slot = slots.get(worker);
      slots.delete(worker);
      if (slot === undefined) return;
      if (stopping) {
        if (code !== 0) exitCode = 1;
        finishIfDone();
        return;
      }
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && crashes[0]! < now - CRASH_WINDOW_MS) crashes.shift();
      if (crashes.length >= MAX_CRASHES) {
        note('workers keep dying; stopping keybroker', { crashes: crashes.length, windowMs: CRASH_WINDOW_MS });
        exitCode = 1;
        stop('SIGTERM');
        return;
      }
      note('worker exited unexpectedly; starting another', { slot, code, signal });
      setTimeout(() => {
        if (!stopping) fork(slot);
      }, RESTART_DELAY_MS);
    });

    const reload = () => {
      for (const worker of slots.keys()) worker.process.kill('SIGHUP');
    };
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      note('stopping workers', { signal, workers: slots.size });
      for (const worker of slots.keys()) worker.process.kill(signal);
      setTimeout(() => {
        for (const worker of slots.keys()) worker.process.kill('SIGKILL');
      }, options.stopTimeoutMs).unref();
      finishIfDone();
    };
    process.on('SIGHUP', reload);
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));

    note('starting workers', { workers: options.workers });
    for (let slot = 0; slot < options.workers; slot++) fork(slot);
  });
}

/** Copies whole lines from `from` to `to`, so that lines of different workers never mix. */
function relayLines(from: Readable | null | undefined, to: Writable): void {
  if (!from) return;
  let partial = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    const text = partial + chunk;
    const end = text.lastIndexOf('\n');
    if (end === -1) {
      partial = text;
      return;
    }
    partial = text.slice(end + 1);
    to.write(text.slice(0, end + 1));
  });
  from.on('end', () => {
    if (partial) to.write(`${partial}\n`);
  });
}
