import { startKeybroker } from '../server/start.ts';

/** `keybroker serve -c FILE`: serve until SIGTERM/SIGINT; SIGHUP reloads the configuration. */
export async function serve(configFile: string): Promise<void> {
  const broker = await startKeybroker({ configFile });
  process.on('SIGHUP', () => void broker.watcher.reload());
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    broker.log.info({ signal }, 'shutting down: draining in-flight checks');
    broker.shutdown().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
