// Original file: proto/keybroker/token/v1/token.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ExchangeRequest as _keybroker_token_v1_ExchangeRequest, ExchangeRequest__Output as _keybroker_token_v1_ExchangeRequest__Output } from '../../../keybroker/token/v1/ExchangeRequest';
import type { ExchangeResponse as _keybroker_token_v1_ExchangeResponse, ExchangeResponse__Output as _keybroker_token_v1_ExchangeResponse__Output } from '../../../keybroker/token/v1/ExchangeResponse';

/**
 * Gateway tokens for agents without SPIRE: OAuth 2.0 Token Exchange (RFC 8693)
 * semantics over gRPC. An agent proves who it is with what it has — the X.509-SVID of
 * its mTLS connection, or a Kubernetes projected service-account token — and receives a
 * short-lived JWT signed by keybroker, audience "keybroker", which Envoy's Check accepts
 * as proof "gateway-token". A token issued over mTLS is bound to that certificate
 * (RFC 8705 cnf.x5t#S256) and is refused on a connection without it.
 */
export interface TokenServiceClient extends grpc.Client {
  Exchange(argument: _keybroker_token_v1_ExchangeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_token_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  Exchange(argument: _keybroker_token_v1_ExchangeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_token_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  Exchange(argument: _keybroker_token_v1_ExchangeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_token_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  Exchange(argument: _keybroker_token_v1_ExchangeRequest, callback: grpc.requestCallback<_keybroker_token_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  exchange(argument: _keybroker_token_v1_ExchangeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_token_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  exchange(argument: _keybroker_token_v1_ExchangeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_token_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  exchange(argument: _keybroker_token_v1_ExchangeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_token_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  exchange(argument: _keybroker_token_v1_ExchangeRequest, callback: grpc.requestCallback<_keybroker_token_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Gateway tokens for agents without SPIRE: OAuth 2.0 Token Exchange (RFC 8693)
 * semantics over gRPC. An agent proves who it is with what it has — the X.509-SVID of
 * its mTLS connection, or a Kubernetes projected service-account token — and receives a
 * short-lived JWT signed by keybroker, audience "keybroker", which Envoy's Check accepts
 * as proof "gateway-token". A token issued over mTLS is bound to that certificate
 * (RFC 8705 cnf.x5t#S256) and is refused on a connection without it.
 */
export interface TokenServiceHandlers extends grpc.UntypedServiceImplementation {
  Exchange: grpc.handleUnaryCall<_keybroker_token_v1_ExchangeRequest__Output, _keybroker_token_v1_ExchangeResponse>;
  
}

export interface TokenServiceDefinition extends grpc.ServiceDefinition {
  Exchange: MethodDefinition<_keybroker_token_v1_ExchangeRequest, _keybroker_token_v1_ExchangeResponse, _keybroker_token_v1_ExchangeRequest__Output, _keybroker_token_v1_ExchangeResponse__Output>
}
