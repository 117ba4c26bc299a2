/** `keybroker serve`: serve Check until SIGTERM/SIGINT; SIGHUP reloads the configuration. */
import { startKeybroker } from '../server/start.ts';
import { parseOptions, required, type Command } from './command.ts';

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

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve Envoy\'s ext_authz Check (and gRPC health) from a configuration file',
  help: `usage: keybroker serve -c FILE

Serves envoy.service.auth.v3.Authorization/Check and grpc.health.v1 on the configured
listen address (a Unix socket, loopback, or mTLS with an allowlist of callers). Logs go
to stdout as JSON lines, one decision line per Check; keys and tokens never appear.

signals: SIGTERM / SIGINT drain in-flight checks and exit 0; SIGHUP reloads the
configuration (a file that does not validate whole is refused; the last good one stays).

options:
  -c, --config FILE   the configuration file
  -h, --help          this text

exit codes: 0 stopped by a signal, 1 configuration error or address in use, 2 usage`,
  async run(args) {
    const values = parseOptions(args, { config: { type: 'string', short: 'c' } });
    required(values, 'config');
    await serve(values.config);
    return -1;
  },
};
