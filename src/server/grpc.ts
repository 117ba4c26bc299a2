/**
 * The gRPC server: Envoy's Authorization service (Check), its ExternalProcessor service
 * (Process: usage metering, `process-handler.ts`) and gRPC health, on the address the
 * config allows, behind the same caller guard. The Check handler is thin: parse, run the
 * pipeline, respond.
 */
import cluster from 'node:cluster';
import { chmodSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import { Server, ServerCredentials, status as GrpcStatus, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { AUTHORIZATION_SERVICE, EXTERNAL_PROCESSOR_SERVICE } from '../envoy/proto.ts';
import { externalProcessorServerDefinition } from '../envoy/ext-proc-codec.ts';
import { processHandler, type ProcessorOptions } from './process-handler.ts';
import { authorizationServerDefinition, type CheckRequestView } from '../envoy/codec.ts';
import { parseCheckRequest } from '../envoy/request.ts';
import { toCheckResponse, type DynamicMetadata } from '../envoy/response.ts';
import type { Check } from '../pipeline/check.ts';
import type { CallContext, RequestFacts } from '../model/check.ts';
import { performance } from 'node:perf_hooks';
import { isPromise } from '../lib/maybe-async.ts';
import { callerAllowlist, type CallerCheck } from './callers.ts';
import { grpcTarget, ListenError, type ListenAddress } from './listen.ts';

export interface RunningServer {
  /** What the server is bound to: `unix:///path` or `host:port` with the real port. */
  readonly address: string;
  /**
   * Report NOT_SERVING, keep serving for `drainDelayMs` (so health-checking callers move
   * away first), then stop accepting and let in-flight calls finish (up to `graceMs`).
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

export interface ShutdownOptions {
  readonly drainDelayMs?: number;
  readonly graceMs?: number;
}

/** Shared with the benchmark's baseline server, so the two differ only in what Check does. */
export const SERVER_OPTIONS = {
  'grpc.max_receive_message_length': 2 * 1024 * 1024,
  'grpc.max_send_message_length': 1024 * 1024,
  'grpc.keepalive_permit_without_calls': 1,
  // Per-call channelz bookkeeping costs ~5% of a Check; keybroker exposes its own metrics.
  'grpc.enable_channelz': 0,
};

/**
 * `dynamicMetadata` is read per Check, so a reload that changes it applies at once.
 * With `processor`, the same server also meters responses (ExternalProcessor/Process).
 */
export async function startServer(listen: ListenAddress, check: Check, log: Logger, dynamicMetadata: () => DynamicMetadata = () => 'essential', processor?: ProcessorOptions): Promise<RunningServer> {
  const server = new Server(SERVER_OPTIONS);
  const allowCaller = listen.tls ? callerAllowlist(listen.tls.allowedCallers) : undefined;
  const undecodable = (error: unknown) => log.warn({ err: (error as Error)?.message }, 'CheckRequest could not be decoded; answering a gRPC error, which Envoy denies');
  server.addService(authorizationServerDefinition(undecodable), { Check: checkHandler(check, log, allowCaller, dynamicMetadata) });
  if (processor) server.addService(externalProcessorServerDefinition(), { Process: processHandler(processor, log, allowCaller) });

  const services = [AUTHORIZATION_SERVICE, ...(processor ? [EXTERNAL_PROCESSOR_SERVICE] : [])];
  const health = new HealthImplementation(Object.fromEntries(['', ...services].map((s) => [s, 'SERVING' as const])));
  health.addToServer(server);

  const port = await bind(server, listen);
  const address = listen.kind === 'unix' ? `unix://${listen.path}` : grpcTarget({ ...listen, port });
  log.info({ address, mtls: Boolean(listen.tls) }, 'keybroker listening');

  return {
    address,
    async shutdown({ drainDelayMs = 0, graceMs = 10_000 } = {}) {
      for (const service of ['', ...services]) health.setStatus(service, 'NOT_SERVING');
      if (drainDelayMs > 0) {
        log.info({ drainDelayMs }, 'reporting NOT_SERVING; still answering until the drain delay ends');
        await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
      }
      return stopServer(server, listen, graceMs);
    },
  };
}

/**
 * Stops accepting, lets in-flight calls finish for up to `graceMs`, then cuts the rest.
 * The socket file goes with the process that claimed it (the primary), never with a worker.
 */
export function stopServer(server: Server, listen: ListenAddress, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      if (listen.kind === 'unix' && cluster.isPrimary) removeStaleSocket(listen.path);
      resolve();
    });
  });
}

function checkHandler(check: Check, log: Logger, allowCaller: CallerCheck | undefined, dynamicMetadata: () => DynamicMetadata) {
  return (call: ServerUnaryCall<CheckRequestView, Buffer>, callback: sendUnaryData<Buffer>) => {
    if (allowCaller && !allowCaller(call.getAuthContext()?.sslPeerCertificate)) {
      log.warn({ peer: call.getPeer() }, 'Check refused: caller certificate is not on the allowlist');
      callback({ code: GrpcStatus.PERMISSION_DENIED, details: 'caller is not allowed to call Check' });
      return;
    }
    let facts: RequestFacts;
    try {
      facts = parseCheckRequest(call.request);
    } catch (error) {
      log.error({ err: (error as Error).message }, 'CheckRequest could not be parsed');
      callback({ code: GrpcStatus.INTERNAL, details: 'request could not be parsed' });
      return;
    }
    // The pipeline turns errors into denials; reaching `failed` is a bug. A gRPC error
    // makes Envoy deny (failure_mode_allow: false).
    const failed = (error: unknown) => {
      log.error({ err: (error as Error)?.message }, 'Check failed outside the pipeline');
      callback({ code: GrpcStatus.INTERNAL, details: 'authorization failed' });
    };
    try {
      const outcome = check(facts, callContext(call));
      if (isPromise(outcome)) outcome.then((o) => callback(null, toCheckResponse(o, dynamicMetadata()))).catch(failed);
      else callback(null, toCheckResponse(outcome, dynamicMetadata()));
    } catch (error) {
      failed(error);
    }
  };
}

/** Without a gRPC deadline (Envoy always sends one: its ext_authz timeout), a Check still ends. */
export const UNBOUNDED_CHECK_MS = 5000;

/**
 * The call's bound and Envoy's trace context, for the pipeline. The answer must be
 * ready a little before the gRPC deadline — 10% of the budget, at most 50 ms — so that
 * an allow is on the wire while Envoy still waits for it, not after it gave up.
 */
function callContext(call: ServerUnaryCall<CheckRequestView, Buffer>): CallContext {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  const budget = Number.isFinite(at) ? at - Date.now() : UNBOUNDED_CHECK_MS;
  const answerBy = performance.now() + budget - Math.min(50, budget / 10);
  const traceparent = call.metadata.get('traceparent')[0];
  const onCancel = (listener: () => void) => void call.once('cancelled', listener);
  if (typeof traceparent !== 'string') return { answerBy, onCancel };
  const tracestate = call.metadata.get('tracestate')[0];
  return { answerBy, onCancel, traceContext: typeof tracestate === 'string' ? { traceparent, tracestate } : { traceparent } };
}

/**
 * Binds `server` where `listen` says, with mTLS when it has tls (or the credentials
 * given). A Unix socket gets mode `socketMode`: Check's 0660 (Envoy's group), the admin
 * API's 0600.
 */
export async function bind(server: Server, listen: ListenAddress, socketMode = 0o660, tlsCredentials?: ServerCredentials): Promise<number> {
  let credentials = tlsCredentials ?? ServerCredentials.createInsecure();
  if (!tlsCredentials && listen.kind === 'tcp' && listen.tls) {
    credentials = ServerCredentials.createSsl(readFileSync(listen.tls.clientCa), [{ cert_chain: readFileSync(listen.tls.cert), private_key: readFileSync(listen.tls.key) }], true);
  }
  // Under `serve --workers`, the primary claimed the address (and created the one shared
  // socket): a worker must neither probe, remove nor rely on its own umask.
  const umask = cluster.isPrimary ? await claimAddress(listen) : undefined;
  try {
    const port = await new Promise<number>((resolve, reject) => server.bindAsync(grpcTarget(listen), credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort)))).catch(
      async (error: unknown) => {
        // grpc-js says only "No address added out of total 1 resolved": find out why.
        const code = listen.kind === 'tcp' ? await tcpBindError(listen.host, listen.port) : undefined;
        if (code === 'EADDRINUSE') throw new ListenError(addressInUse(listen));
        throw new ListenError(`cannot listen on ${grpcTarget(listen)}: ${code ?? (error as Error).message}`);
      },
    );
    if (listen.kind === 'unix') chmodSync(listen.path, socketMode);
    return port;
  } finally {
    if (umask !== undefined) process.umask(umask);
  }
}

/**
 * Makes the address ready for the one process that will own it: refuses an address in use
 * (grpc-js would log and report only "No address added out of total 1 resolved"), clears
 * a stale socket file and narrows the umask so a new socket is never, even briefly,
 * reachable by other users (its documented mode is set after bind). Returns the previous
 * umask for a Unix socket, to restore once bound.
 */
export async function claimAddress(listen: ListenAddress): Promise<number | undefined> {
  if (listen.kind === 'tcp' && listen.port !== 0 && (await tcpBindError(listen.host, listen.port)) === 'EADDRINUSE') {
    throw new ListenError(addressInUse(listen));
  }
  if (listen.kind !== 'unix') return undefined;
  // A socket another keybroker still serves is not stale: refuse rather than steal it.
  if (await socketAnswers(listen.path)) throw new ListenError(addressInUse(listen));
  removeStaleSocket(listen.path);
  return process.umask(0o177);
}

function addressInUse(listen: ListenAddress): string {
  return `cannot listen on ${grpcTarget(listen)}: the address is in use, by another keybroker (an earlier \`npm start\`?) or another program; stop it, or change listen in the configuration`;
}

function tcpBindError(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // absent: nothing to remove
  }
}
