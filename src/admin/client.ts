/**
 * A client for a running keybroker's admin API: `--server unix:///run/keybroker/admin.sock`
 * (the socket's mode decides who may), or `--server host:port` with the admin's
 * certificate for mTLS. Used by the CLI and the tests.
 */
import { readFileSync } from 'node:fs';
import { credentials, Metadata, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { adminService } from '../api/services.ts';
import type { ExplainRequest } from '../api/generated/keybroker/admin/v1/ExplainRequest.ts';
import type { ExplainResponse__Output } from '../api/generated/keybroker/admin/v1/ExplainResponse.ts';
import type { WhoCanRequest } from '../api/generated/keybroker/admin/v1/WhoCanRequest.ts';
import type { WhoCanResponse__Output } from '../api/generated/keybroker/admin/v1/WhoCanResponse.ts';
import type { CanRequest } from '../api/generated/keybroker/admin/v1/CanRequest.ts';
import type { CanResponse__Output } from '../api/generated/keybroker/admin/v1/CanResponse.ts';
import type { StatusRequest } from '../api/generated/keybroker/admin/v1/StatusRequest.ts';
import type { StatusResponse__Output } from '../api/generated/keybroker/admin/v1/StatusResponse.ts';
import type { ReloadRequest } from '../api/generated/keybroker/admin/v1/ReloadRequest.ts';
import type { ReloadResponse__Output } from '../api/generated/keybroker/admin/v1/ReloadResponse.ts';
import type { GetJwksRequest } from '../api/generated/keybroker/admin/v1/GetJwksRequest.ts';
import type { GetJwksResponse__Output } from '../api/generated/keybroker/admin/v1/GetJwksResponse.ts';

export interface AdminTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** The name the server's certificate is checked against, if not the address's host. */
  readonly serverName?: string | undefined;
}

type Unary<Req, Res> = (request: Req) => Promise<Res>;
interface Methods {
  Explain: Unary<ExplainRequest, ExplainResponse__Output>;
  WhoCan: Unary<WhoCanRequest, WhoCanResponse__Output>;
  Can: Unary<CanRequest, CanResponse__Output>;
  Status: Unary<StatusRequest, StatusResponse__Output>;
  Reload: Unary<ReloadRequest, ReloadResponse__Output>;
  GetJwks: Unary<GetJwksRequest, GetJwksResponse__Output>;
}

export type AdminApi = Methods & { close(): void };

export function connectAdmin(server: string, tls?: AdminTls, deadlineMs = 10_000): AdminApi {
  let channel: ChannelCredentials = credentials.createInsecure();
  const options: Record<string, string> = {};
  if (tls) {
    channel = credentials.createSsl(readFileSync(tls.ca), readFileSync(tls.key), readFileSync(tls.cert));
    if (tls.serverName) options['grpc.ssl_target_name_override'] = tls.serverName;
  } else if (!server.startsWith('unix:')) {
    throw new Error(`--server ${server}: a TCP admin address needs --tls-ca, --tls-cert and --tls-key (the admin API is mTLS-only on TCP)`);
  }
  const Ctor = adminService();
  const client = new Ctor(server, channel, options) as Client & Record<string, (r: unknown, m: Metadata, o: object, cb: (e: ServiceError | null, r: unknown) => void) => void>;
  const call =
    (method: string) =>
    (request: unknown): Promise<never> =>
      new Promise((resolve, reject) => client[method]!(request, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => (error ? reject(error) : resolve(response as never))));
  return {
    Explain: call('Explain'),
    WhoCan: call('WhoCan'),
    Can: call('Can'),
    Status: call('Status'),
    Reload: call('Reload'),
    GetJwks: call('GetJwks'),
    close: () => client.close(),
  };
}
