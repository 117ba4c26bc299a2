/**
 * A listener for keybroker's own services (admin, token exchange): a gRPC server bound
 * where its configuration says, with the same bind and shutdown as Check's, and gRPC
 * health. Never the Check listener: each of these has its own address and access rule.
 */
import { Server, type ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { bind, SERVER_OPTIONS, stopServer, type RunningServer, type ShutdownOptions } from './grpc.ts';
import { grpcTarget, type ListenAddress } from './listen.ts';

export interface ServiceServerOptions {
  /** What the listener is called in logs and Status ("admin", "token"). */
  readonly name: string;
  readonly services: readonly string[];
  readonly register: (server: Server) => void;
  readonly socketMode?: number;
  /** TLS credentials other than listen.tls's required client certificate. */
  readonly credentials?: ServerCredentials;
}

export async function startServiceServer(listen: ListenAddress, options: ServiceServerOptions, log: Logger): Promise<RunningServer> {
  const server = new Server(SERVER_OPTIONS);
  options.register(server);
  const health = new HealthImplementation(Object.fromEntries(['', ...options.services].map((s) => [s, 'SERVING' as const])));
  health.addToServer(server);
  const port = await bind(server, listen, options.socketMode, options.credentials);
  const address = listen.kind === 'unix' ? `unix://${listen.path}` : grpcTarget({ ...listen, port });
  log.info({ listener: options.name, address, tls: Boolean(listen.tls ?? options.credentials) }, `${options.name} API listening`);
  return {
    address,
    shutdown(how: ShutdownOptions = {}) {
      for (const service of ['', ...options.services]) health.setStatus(service, 'NOT_SERVING');
      return stopServer(server, listen, how.graceMs ?? 5_000);
    },
  };
}
