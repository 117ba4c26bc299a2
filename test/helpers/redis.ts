/**
 * A real Redis (Debian's redis-server, installed by scripts/install-tools.sh) on a free
 * loopback port, in memory only (no RDB, no AOF), so a restart forgets everything as a
 * crashed cache would. Missing Redis is a failure, never a skip.
 */
import { execFileSync } from 'node:child_process';
import { spawnProcess, type Spawned } from './process.ts';
import { freePort } from './envoy.ts';
import { exitWatch, poll } from './poll.ts';

export const REDIS_BIN = 'redis-server';

export interface RunningRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL: what a crash looks like to clients. */
  stop(): Promise<void>;
  /** Starts again on the same port, empty. */
  restart(): Promise<void>;
  /** SIGSTOP: connected but silent, as a Redis stuck on a slow command or a long fork looks. */
  pause(): void;
  /** SIGCONT: answers what it was sent meanwhile. */
  resume(): void;
}

export async function startRedis(port?: number): Promise<RunningRedis> {
  try {
    execFileSync(REDIS_BIN, ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(`${REDIS_BIN} is not installed: run bash scripts/install-tools.sh`);
  }
  const chosen = port ?? (await freePort());
  let proc: Spawned = await launch(chosen);
  const stop = async () => {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    proc.child.kill('SIGKILL');
    await proc.exited();
  };
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    stop,
    async restart() {
      await stop();
      proc = await launch(chosen);
    },
    pause() {
      proc.child.kill('SIGSTOP');
    },
    resume() {
      proc.child.kill('SIGCONT');
    },
  };
}

async function launch(port: number): Promise<Spawned> {
  const proc = spawnProcess(REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning']);
  await poll(
    () => {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe', timeout: 2000 });
    },
    {
      timeoutMs: 15_000,
      intervalMs: 50,
      stop: exitWatch(proc.exited(), () => new Error(`redis-server exited during start:\n${proc.output()}`)),
      describe: () => new Error(`redis-server was not ready within 15 s:\n${proc.output()}`),
    },
  );
  return proc;
}
