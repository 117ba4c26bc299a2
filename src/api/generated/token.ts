import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ExchangeRequest as _keybroker_token_v1_ExchangeRequest, ExchangeRequest__Output as _keybroker_token_v1_ExchangeRequest__Output } from './keybroker/token/v1/ExchangeRequest';
import type { ExchangeResponse as _keybroker_token_v1_ExchangeResponse, ExchangeResponse__Output as _keybroker_token_v1_ExchangeResponse__Output } from './keybroker/token/v1/ExchangeResponse';
import type { TokenServiceClient as _keybroker_token_v1_TokenServiceClient, TokenServiceDefinition as _keybroker_token_v1_TokenServiceDefinition } from './keybroker/token/v1/TokenService';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  keybroker: {
    token: {
      v1: {
        ExchangeRequest: MessageTypeDefinition<_keybroker_token_v1_ExchangeRequest, _keybroker_token_v1_ExchangeRequest__Output>
        ExchangeResponse: MessageTypeDefinition<_keybroker_token_v1_ExchangeResponse, _keybroker_token_v1_ExchangeResponse__Output>
        /**
         * Gateway tokens for agents without SPIRE: OAuth 2.0 Token Exchange (RFC 8693)
         * semantics over gRPC. An agent proves who it is with what it has — the X.509-SVID of
         * its mTLS connection, or a Kubernetes projected service-account token — and receives a
         * short-lived JWT signed by keybroker, audience "keybroker", which Envoy's Check accepts
         * as proof "gateway-token". A token issued over mTLS is bound to that certificate
         * (RFC 8705 cnf.x5t#S256) and is refused on a connection without it.
         */
        TokenService: SubtypeConstructor<typeof grpc.Client, _keybroker_token_v1_TokenServiceClient> & { service: _keybroker_token_v1_TokenServiceDefinition }
      }
    }
  }
}

