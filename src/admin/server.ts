/**
 * The admin API's listener: AdminService on its own address (src/admin/listen.ts). On
 * mTLS, only callers whose SPIFFE ID is on `admin.listen.tls.allowedCallers` are served.
 * Every call — served, refused or failed — leaves one audit line: who, what, result.
 */
import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { adminService, ADMIN_SERVICE } from '../api/services.ts';
import { parseUriSans } from '../identity/x509-svid.ts';
import { callerAllowlist } from '../server/callers.ts';
import type { RunningServer } from '../server/grpc.ts';
import type { ListenAddress } from '../server/listen.ts';
import { startServiceServer } from '../server/service-server.ts';
import { AdminInputError, adminMethods, type AdminDeps, type AdminMethods } from './handlers.ts';

export async function startAdminServer(listen: ListenAddress, deps: AdminDeps, log: Logger): Promise<RunningServer> {
  const methods = adminMethods(deps);
  const allowCaller = listen.tls ? callerAllowlist(listen.tls.allowedCallers) : undefined;
  const implementation: UntypedServiceImplementation = {};
  for (const method of Object.keys(methods) as Array<keyof AdminMethods>) {
    implementation[method] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const peer = call.getAuthContext()?.sslPeerCertificate;
      // Over the Unix socket, the socket's mode (0600) is the access rule: the caller runs as keybroker's user.
      const caller = listen.kind === 'unix' ? `unix:${listen.path}` : (peer?.subjectaltname && parseUriSans(peer.subjectaltname)[0]) || 'unknown';
      const audit = (result: string, detail?: string) => log.info({ audit: 'admin', caller, method, request: call.request, result, ...(detail ? { detail } : {}) }, 'admin call');
      if (allowCaller && !allowCaller(peer)) {
        audit('refused', 'caller is not on admin.listen.tls.allowedCallers');
        callback({ code: GrpcStatus.PERMISSION_DENIED, details: 'caller is not allowed to use the admin API' });
        return;
      }
      (methods[method] as (r: unknown) => Promise<unknown>)(call.request).then(
        (response) => {
          audit(resultOf(method, response));
          callback(null, response);
        },
        (error: unknown) => {
          const invalid = error instanceof AdminInputError;
          audit(invalid ? 'invalid' : 'error', (error as Error)?.message);
          callback({ code: invalid ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.INTERNAL, details: invalid ? (error as Error).message : "the admin call failed; see keybroker's log" });
        },
      );
    };
  }
  return startServiceServer(listen, { name: 'admin', services: [ADMIN_SERVICE], socketMode: 0o600, register: (server) => server.addService(adminService().service, implementation) }, log);
}

/** What the audit line records as the call's result. */
function resultOf(method: keyof AdminMethods, response: unknown): string {
  if (method === 'Explain') return `ok: ${(response as { decision?: { decision?: string; reason?: string } }).decision?.reason ?? ''}`;
  if (method === 'Reload') return (response as { applied: boolean }).applied ? 'ok: applied' : 'ok: rejected';
  return 'ok';
}
