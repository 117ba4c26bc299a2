/**
 * `keybroker health`: asks a running keybroker's gRPC health service, on the address its
 * configuration listens on. The container HEALTHCHECK and Kubernetes' exec probes use it,
 * since a Unix socket cannot be probed by the kubelet's own gRPC probe.
 */
import { readFileSync } from 'node:fs';
import { credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { loadConfigFile } from '../config/load.ts';
import { grpcTarget, parseListen } from '../server/listen.ts';
import { AUTHORIZATION_SERVICE } from '../envoy/proto.ts';
import { EXIT, parseOptions, required, UsageError, type Command } from './command.ts';

export interface HealthTarget {
  readonly address: string;
  /** For an mTLS listener: a client certificate its clientCa trusts. */
  readonly tls?: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer };
}

/** SERVING, NOT_SERVING, … as the server says; throws when it cannot be asked within `timeoutMs`. */
export function checkHealth(target: HealthTarget, timeoutMs = 2000): Promise<string> {
  const Client = makeGenericClientConstructor(healthService, 'Health');
  const channel = target.tls ? credentials.createSsl(target.tls.ca, target.tls.key, target.tls.cert) : credentials.createInsecure();
  const client = new Client(target.address, channel);
  return new Promise<string>((resolve, reject) => {
    (client as unknown as Record<string, (r: object, o: object, cb: (e: ServiceError | null, r: { status: string }) => void) => void>)['check']!(
      { service: AUTHORIZATION_SERVICE },
      { deadline: Date.now() + timeoutMs },
      (error, response) => (error ? reject(error) : resolve(String(response.status))),
    );
  }).finally(() => client.close());
}

export const healthCommand: Command = {
  name: 'health',
  summary: 'ask a running keybroker whether it serves Check (for container probes)',
  help: `usage: keybroker health -c FILE [--ca FILE --cert FILE --key FILE] [--timeout MS]

Calls grpc.health.v1.Health/Check for ${AUTHORIZATION_SERVICE} on the address the
configuration listens on. A draining keybroker (after SIGTERM) answers NOT_SERVING.

options:
  -c, --config FILE   the running keybroker's configuration file
  --ca FILE           for an mTLS listener: the CA of keybroker's serving certificate
  --cert, --key FILE  for an mTLS listener: a client certificate its clientCa trusts
  --timeout MS        how long to wait for the answer (default 2000)
  -h, --help          this text

exit codes: 0 SERVING, 1 anything else (NOT_SERVING, unreachable, timed out), 2 usage`,
  async run(args, io) {
    const values = parseOptions(args, {
      config: { type: 'string', short: 'c' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      timeout: { type: 'string', default: '2000' },
    });
    required(values, 'config');
    const timeoutMs = Number(values.timeout);
    if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) throw new UsageError(`--timeout: expected milliseconds, got "${values.timeout}"`);
    const listen = parseListen(loadConfigFile(values.config).config.listen);
    const { ca, cert, key } = values;
    if (listen.tls && !(ca && cert && key)) throw new UsageError("the listener is mTLS: give --ca (of keybroker's certificate) and --cert, --key (a client its clientCa trusts)");
    const target: HealthTarget = {
      address: grpcTarget(listen),
      ...(listen.tls && ca && cert && key ? { tls: { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) } } : {}),
    };
    try {
      const status = await checkHealth(target, timeoutMs);
      io.out(status);
      return status === 'SERVING' ? EXIT.ok : EXIT.error;
    } catch (error) {
      io.err(`keybroker health: ${target.address}: ${(error as ServiceError).details || (error as Error).message}`);
      return EXIT.error;
    }
  },
};
