/**
 * `--server ADDR`: ask a running keybroker through its admin API instead of loading the
 * configuration here. A Unix socket needs nothing more; a TCP address needs the admin's
 * certificate (--tls-ca, --tls-cert, --tls-key; --tls-server-name if the certificate
 * does not name the address's host).
 */
import { connectAdmin, type AdminApi } from '../admin/client.ts';
import { UsageError } from './command.ts';

export const SERVER_OPTIONS = {
  server: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-server-name': { type: 'string' },
} as const;

export const SERVER_HELP = `  --server ADDR           ask the running keybroker at its admin address
                          (unix:///run/keybroker/admin.sock, or host:port with:)
  --tls-ca, --tls-cert, --tls-key FILE   the admin's mTLS certificate, for host:port
  --tls-server-name NAME  the name the server certificate is checked against`;

interface ServerValues {
  readonly server?: string | undefined;
  readonly 'tls-ca'?: string | undefined;
  readonly 'tls-cert'?: string | undefined;
  readonly 'tls-key'?: string | undefined;
  readonly 'tls-server-name'?: string | undefined;
}

/** Connects to `--server`; the caller closes the client. */
export function adminFromOptions(values: ServerValues & { server: string }): AdminApi {
  const tlsGiven = [values['tls-ca'], values['tls-cert'], values['tls-key']];
  if (tlsGiven.some(Boolean) && !tlsGiven.every(Boolean)) throw new UsageError('--tls-ca, --tls-cert and --tls-key go together');
  try {
    return connectAdmin(values.server, values['tls-ca'] ? { ca: values['tls-ca'], cert: values['tls-cert']!, key: values['tls-key']!, serverName: values['tls-server-name'] } : undefined);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Runs one admin call, closing the client; gRPC errors become a message a person can act on. */
export async function askServer<T>(values: ServerValues & { server: string }, call: (admin: AdminApi) => Promise<T>): Promise<T> {
  const admin = adminFromOptions(values);
  try {
    return await call(admin);
  } catch (error) {
    const grpc = error as { code?: number; details?: string };
    if (grpc.code === undefined) throw error;
    throw new Error(`${values.server}: ${grpc.details || 'the admin call failed'} (gRPC status ${grpc.code})`);
  } finally {
    admin.close();
  }
}
