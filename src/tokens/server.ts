/**
 * The token listener: TokenService/Exchange on its own address. With tls.clientCa, the
 * client certificate is requested but not required — grpc-js reports a certificate only
 * when it verified against that CA, so an agent proves itself by its X.509-SVID or
 * brings a service-account token instead. Each exchange leaves one audit line (identity,
 * proof, scope, binding, result); the tokens in and out never appear in it.
 */
import { experimental, status as GrpcStatus, type sendUnaryData, type ServerCredentials, type ServerUnaryCall } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { tokenService, TOKEN_SERVICE } from '../api/services.ts';
import { parseUriSans } from '../identity/x509-svid.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import type { RunningServer } from '../server/grpc.ts';
import { ListenError, parseListen, type ListenAddress } from '../server/listen.ts';
import { startServiceServer } from '../server/service-server.ts';
import type { ExchangeRequest__Output } from '../api/generated/keybroker/token/v1/ExchangeRequest.ts';
import { ExchangeError, exchangeToken } from './exchange.ts';
import type { GatewayTokensConfig } from './schema.ts';
import { SigningKeyError, type GatewayTokenSigner } from './signer.ts';

export interface TokenListen {
  readonly address: ListenAddress;
  readonly tls?: { readonly cert: string; readonly key: string; readonly clientCa?: string | undefined } | undefined;
}

/** A Unix socket, loopback, or TCP with tls: exchanged tokens are credentials. */
export function parseTokenListen(listen: GatewayTokensConfig['listen']): TokenListen {
  const address = typeof listen === 'string' ? listen : listen.address;
  const tls = typeof listen === 'string' ? undefined : listen.tls;
  let parsed: ListenAddress;
  try {
    parsed = parseListen(address);
  } catch (error) {
    if (!tls) throw new ListenError(`gatewayTokens.listen: "${address}" is not loopback: add tls (cert, key, and clientCa to accept X.509-SVIDs)`);
    parsed = parseListen({ address, tls: { cert: tls.cert, key: tls.key, clientCa: tls.clientCa ?? '', allowedCallers: [] } });
    void error;
  }
  if (tls && parsed.kind === 'unix') throw new ListenError('gatewayTokens.listen: tls applies to TCP addresses');
  return { address: parsed.kind === 'tcp' ? { ...parsed, tls: undefined } : parsed, tls };
}

export interface TokenServerDeps {
  readonly runtime: () => Runtime;
  readonly signer: GatewayTokenSigner;
}

export async function startTokenServer(listen: TokenListen, deps: TokenServerDeps, log: Logger): Promise<RunningServer> {
  const Exchange = (call: ServerUnaryCall<ExchangeRequest__Output, unknown>, callback: sendUnaryData<unknown>) => {
    const peer = call.getAuthContext()?.sslPeerCertificate;
    const caller = peer?.raw ? { certificate: peer.raw, uris: peer.subjectaltname ? parseUriSans(peer.subjectaltname) : [] } : {};
    const scope = call.request.scope;
    exchangeToken(call.request, caller, deps.runtime(), deps.signer).then(
      (done) => {
        log.info(
          { audit: 'token-exchange', identity: done.identity, proof: done.proof, scope, bound: done.bound, kid: done.kid, expiresIn: done.response.expires_in, result: 'issued' },
          'gateway token issued',
        );
        callback(null, done.response);
      },
      (error: unknown) => {
        const { code, details } = grpcError(error, log);
        log.info({ audit: 'token-exchange', certificate: Boolean(peer?.raw), scope, result: 'refused', details }, 'gateway token refused');
        callback({ code, details });
      },
    );
  };
  const credentials = listen.tls ? tlsCredentials(listen.tls) : undefined;
  return startServiceServer(
    listen.address,
    { name: 'token', services: [TOKEN_SERVICE], ...(credentials ? { credentials } : {}), register: (server) => server.addService(tokenService().service, { Exchange }) },
    log,
  );
}

function grpcError(error: unknown, log: Logger): { code: GrpcStatus; details: string } {
  if (error instanceof ExchangeError) {
    const code = error.code === 'invalid_grant' ? GrpcStatus.UNAUTHENTICATED : error.code === 'invalid_scope' ? GrpcStatus.PERMISSION_DENIED : GrpcStatus.INVALID_ARGUMENT;
    return { code, details: `${error.code}${error.reason ? ` (${error.reason})` : ''}: ${error.message}` };
  }
  if (error instanceof SigningKeyError) {
    log.error({ err: error.message }, 'gateway token could not be signed');
    return { code: GrpcStatus.UNAVAILABLE, details: 'temporarily_unavailable: the signing key is unavailable' };
  }
  log.error({ err: (error as Error)?.message }, 'token exchange failed');
  return { code: GrpcStatus.INTERNAL, details: 'server_error' };
}

function tlsCredentials(tls: NonNullable<TokenListen['tls']>): ServerCredentials {
  // Read now, so the first handshake already has them (a file-watching provider loads
  // asynchronously, and a bad file must stop start-up with its path).
  const identity = { certificate: readFileSync(tls.cert), privateKey: readFileSync(tls.key) };
  const ca = tls.clientCa ? { caCertificate: readFileSync(tls.clientCa) } : undefined;
  // grpc-js registers its watcher after adding the listener: answer on the next microtask.
  const provider: experimental.CertificateProvider = {
    addIdentityCertificateListener: (listener) => queueMicrotask(() => listener(identity)),
    removeIdentityCertificateListener: () => undefined,
    addCaCertificateListener: (listener) => queueMicrotask(() => listener(ca ?? null)),
    removeCaCertificateListener: () => undefined,
  };
  // Request a client certificate when a CA is configured, but do not require one.
  return experimental.createCertificateProviderServerCredentials(provider, ca ? provider : null, false);
}
