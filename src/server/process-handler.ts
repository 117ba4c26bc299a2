/**
 * The ExternalProcessor/Process handler: Envoy's ext_proc filter opens one stream per
 * HTTP exchange on a metered route and reports it part by part. The handler is thin:
 * guard the caller (as Check is guarded), decode each message into a ProcessingEvent, hand
 * it to the exchange, and end the stream when the exchange is done or drops it.
 *
 * Nothing a stream sends can take the server down or grow without bound: an undecodable
 * or out-of-order message drops the stream (counted), the number of open streams is
 * capped, and an exchange keeps no body bytes. Envoy runs the filter with
 * failure_mode_allow, so a dropped stream never affects the agent's response.
 */
import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { continueResponse, type ProcessingRequestView, type UndecodableRequest } from '../envoy/ext-proc-codec.ts';
import { toProcessingEvent } from '../envoy/processing-request.ts';
import type { DropCause, Exchange, Next } from '../usage/exchange.ts';
import type { CallerCheck } from './callers.ts';

/** Streams dropped before or instead of a usage record, by cause. */
export type StreamDrop = DropCause | 'refused' | 'too_many_streams';

export interface ProcessorOptions {
  /** A new exchange, bound to the configuration in force, for each stream. */
  readonly exchange: () => Exchange;
  readonly dropped: (cause: StreamDrop) => void;
  /** Open streams beyond this are refused (RESOURCE_EXHAUSTED) and counted. */
  readonly maxStreams?: number;
}

/** Envoy opens one stream per metered request in flight; far more than any gateway keeps open. */
export const MAX_STREAMS = 16_384;

type Incoming = ProcessingRequestView | UndecodableRequest;

export function processHandler(options: ProcessorOptions, log: Logger, allowCaller: CallerCheck | undefined) {
  const maxStreams = options.maxStreams ?? MAX_STREAMS;
  let open = 0;
  return (call: ServerDuplexStream<Incoming, Buffer>) => {
    if (allowCaller && !allowCaller(call.getAuthContext()?.sslPeerCertificate)) {
      log.warn({ peer: call.getPeer() }, 'Process refused: caller certificate is not on the allowlist');
      options.dropped('refused');
      call.emit('error', { code: GrpcStatus.PERMISSION_DENIED, details: 'caller is not allowed to call Process' });
      return;
    }
    if (open >= maxStreams) {
      options.dropped('too_many_streams');
      call.emit('error', { code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'too many processing streams' });
      return;
    }
    open++;
    const exchange = options.exchange();
    let ended = false;
    const close = () => {
      if (ended) return;
      ended = true;
      open--;
      exchange.end();
    };
    const finish = (error?: { code: GrpcStatus; details: string }) => {
      if (ended) return;
      close();
      if (error) call.emit('error', error);
      else call.end();
    };
    call.on('data', (message: Incoming) => {
      if (ended) return;
      if ('failed' in message) {
        options.dropped('malformed');
        log.warn({ err: message.failed }, 'a ProcessingRequest could not be decoded; stream dropped');
        finish({ code: GrpcStatus.INVALID_ARGUMENT, details: 'ProcessingRequest could not be decoded' });
        return;
      }
      // Outside observability mode Envoy waits for an answer to each part: "continue".
      if (!message.observabilityMode && message.part) call.write(continueResponse(message.part));
      let next: Next;
      try {
        next = exchange.handle(toProcessingEvent(message));
      } catch (error) {
        // A bug, not the stream's fault: drop it, keep serving.
        log.error({ err: (error as Error)?.message }, 'metering a response failed; stream dropped');
        options.dropped('malformed');
        finish({ code: GrpcStatus.INTERNAL, details: 'metering failed' });
        return;
      }
      if (next === 'more') return;
      if (next === 'done') {
        finish();
        return;
      }
      options.dropped(next.drop);
      log.debug({ cause: next.drop, detail: next.detail }, 'processing stream dropped without a usage record');
      finish(next.drop === 'malformed' ? { code: GrpcStatus.INVALID_ARGUMENT, details: 'not a ProcessingRequest Envoy sends' } : undefined);
    });
    call.on('end', () => finish());
    call.on('cancelled', close);
    call.on('error', close);
    call.on('close', close);
  };
}
