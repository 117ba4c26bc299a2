// Original file: proto/keybroker/admin/v1/admin.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CanRequest as _keybroker_admin_v1_CanRequest, CanRequest__Output as _keybroker_admin_v1_CanRequest__Output } from '../../../keybroker/admin/v1/CanRequest';
import type { CanResponse as _keybroker_admin_v1_CanResponse, CanResponse__Output as _keybroker_admin_v1_CanResponse__Output } from '../../../keybroker/admin/v1/CanResponse';
import type { ExplainRequest as _keybroker_admin_v1_ExplainRequest, ExplainRequest__Output as _keybroker_admin_v1_ExplainRequest__Output } from '../../../keybroker/admin/v1/ExplainRequest';
import type { ExplainResponse as _keybroker_admin_v1_ExplainResponse, ExplainResponse__Output as _keybroker_admin_v1_ExplainResponse__Output } from '../../../keybroker/admin/v1/ExplainResponse';
import type { GetJwksRequest as _keybroker_admin_v1_GetJwksRequest, GetJwksRequest__Output as _keybroker_admin_v1_GetJwksRequest__Output } from '../../../keybroker/admin/v1/GetJwksRequest';
import type { GetJwksResponse as _keybroker_admin_v1_GetJwksResponse, GetJwksResponse__Output as _keybroker_admin_v1_GetJwksResponse__Output } from '../../../keybroker/admin/v1/GetJwksResponse';
import type { ReloadRequest as _keybroker_admin_v1_ReloadRequest, ReloadRequest__Output as _keybroker_admin_v1_ReloadRequest__Output } from '../../../keybroker/admin/v1/ReloadRequest';
import type { ReloadResponse as _keybroker_admin_v1_ReloadResponse, ReloadResponse__Output as _keybroker_admin_v1_ReloadResponse__Output } from '../../../keybroker/admin/v1/ReloadResponse';
import type { StatusRequest as _keybroker_admin_v1_StatusRequest, StatusRequest__Output as _keybroker_admin_v1_StatusRequest__Output } from '../../../keybroker/admin/v1/StatusRequest';
import type { StatusResponse as _keybroker_admin_v1_StatusResponse, StatusResponse__Output as _keybroker_admin_v1_StatusResponse__Output } from '../../../keybroker/admin/v1/StatusResponse';
import type { WhoCanRequest as _keybroker_admin_v1_WhoCanRequest, WhoCanRequest__Output as _keybroker_admin_v1_WhoCanRequest__Output } from '../../../keybroker/admin/v1/WhoCanRequest';
import type { WhoCanResponse as _keybroker_admin_v1_WhoCanResponse, WhoCanResponse__Output as _keybroker_admin_v1_WhoCanResponse__Output } from '../../../keybroker/admin/v1/WhoCanResponse';

/**
 * Operators' access to a running keybroker. Served only on the admin listener (a Unix
 * socket, or mTLS with an allowlist of admin SPIFFE IDs), never on the Check listener.
 * Every call is audited: who called, which method, and the result.
 */
export interface AdminServiceClient extends grpc.Client {
  /**
   * The grants an identity holds (optionally at one destination).
   */
  Can(argument: _keybroker_admin_v1_CanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_CanResponse__Output>): grpc.ClientUnaryCall;
  Can(argument: _keybroker_admin_v1_CanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_CanResponse__Output>): grpc.ClientUnaryCall;
  Can(argument: _keybroker_admin_v1_CanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_CanResponse__Output>): grpc.ClientUnaryCall;
  Can(argument: _keybroker_admin_v1_CanRequest, callback: grpc.requestCallback<_keybroker_admin_v1_CanResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The grants an identity holds (optionally at one destination).
   */
  can(argument: _keybroker_admin_v1_CanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_CanResponse__Output>): grpc.ClientUnaryCall;
  can(argument: _keybroker_admin_v1_CanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_CanResponse__Output>): grpc.ClientUnaryCall;
  can(argument: _keybroker_admin_v1_CanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_CanResponse__Output>): grpc.ClientUnaryCall;
  can(argument: _keybroker_admin_v1_CanRequest, callback: grpc.requestCallback<_keybroker_admin_v1_CanResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * The decision Check would make for a described request, from the configuration in
   * force: the same facts and answer as `keybroker explain`. Carries a key id, never a key.
   */
  Explain(argument: _keybroker_admin_v1_ExplainRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_ExplainResponse__Output>): grpc.ClientUnaryCall;
  Explain(argument: _keybroker_admin_v1_ExplainRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_ExplainResponse__Output>): grpc.ClientUnaryCall;
  Explain(argument: _keybroker_admin_v1_ExplainRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_ExplainResponse__Output>): grpc.ClientUnaryCall;
  Explain(argument: _keybroker_admin_v1_ExplainRequest, callback: grpc.requestCallback<_keybroker_admin_v1_ExplainResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The decision Check would make for a described request, from the configuration in
   * force: the same facts and answer as `keybroker explain`. Carries a key id, never a key.
   */
  explain(argument: _keybroker_admin_v1_ExplainRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_ExplainResponse__Output>): grpc.ClientUnaryCall;
  explain(argument: _keybroker_admin_v1_ExplainRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_ExplainResponse__Output>): grpc.ClientUnaryCall;
  explain(argument: _keybroker_admin_v1_ExplainRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_ExplainResponse__Output>): grpc.ClientUnaryCall;
  explain(argument: _keybroker_admin_v1_ExplainRequest, callback: grpc.requestCallback<_keybroker_admin_v1_ExplainResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * The public keys that verify keybroker's gateway tokens, as a JWKS (RFC 7517).
   */
  GetJwks(argument: _keybroker_admin_v1_GetJwksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  GetJwks(argument: _keybroker_admin_v1_GetJwksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  GetJwks(argument: _keybroker_admin_v1_GetJwksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  GetJwks(argument: _keybroker_admin_v1_GetJwksRequest, callback: grpc.requestCallback<_keybroker_admin_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The public keys that verify keybroker's gateway tokens, as a JWKS (RFC 7517).
   */
  getJwks(argument: _keybroker_admin_v1_GetJwksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _keybroker_admin_v1_GetJwksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _keybroker_admin_v1_GetJwksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _keybroker_admin_v1_GetJwksRequest, callback: grpc.requestCallback<_keybroker_admin_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Reads the configuration file again; applies it whole or rejects it with the errors.
   */
  Reload(argument: _keybroker_admin_v1_ReloadRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_ReloadResponse__Output>): grpc.ClientUnaryCall;
  Reload(argument: _keybroker_admin_v1_ReloadRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_ReloadResponse__Output>): grpc.ClientUnaryCall;
  Reload(argument: _keybroker_admin_v1_ReloadRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_ReloadResponse__Output>): grpc.ClientUnaryCall;
  Reload(argument: _keybroker_admin_v1_ReloadRequest, callback: grpc.requestCallback<_keybroker_admin_v1_ReloadResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Reads the configuration file again; applies it whole or rejects it with the errors.
   */
  reload(argument: _keybroker_admin_v1_ReloadRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_ReloadResponse__Output>): grpc.ClientUnaryCall;
  reload(argument: _keybroker_admin_v1_ReloadRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_ReloadResponse__Output>): grpc.ClientUnaryCall;
  reload(argument: _keybroker_admin_v1_ReloadRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_ReloadResponse__Output>): grpc.ClientUnaryCall;
  reload(argument: _keybroker_admin_v1_ReloadRequest, callback: grpc.requestCallback<_keybroker_admin_v1_ReloadResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * What is in force: policy version, config hash, keys, bundles, listeners, audit queue.
   */
  Status(argument: _keybroker_admin_v1_StatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _keybroker_admin_v1_StatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _keybroker_admin_v1_StatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _keybroker_admin_v1_StatusRequest, callback: grpc.requestCallback<_keybroker_admin_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  /**
   * What is in force: policy version, config hash, keys, bundles, listeners, audit queue.
   */
  status(argument: _keybroker_admin_v1_StatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _keybroker_admin_v1_StatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _keybroker_admin_v1_StatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _keybroker_admin_v1_StatusRequest, callback: grpc.requestCallback<_keybroker_admin_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * The grants that let someone call a destination (optionally one method and path).
   */
  WhoCan(argument: _keybroker_admin_v1_WhoCanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_WhoCanResponse__Output>): grpc.ClientUnaryCall;
  WhoCan(argument: _keybroker_admin_v1_WhoCanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_WhoCanResponse__Output>): grpc.ClientUnaryCall;
  WhoCan(argument: _keybroker_admin_v1_WhoCanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_WhoCanResponse__Output>): grpc.ClientUnaryCall;
  WhoCan(argument: _keybroker_admin_v1_WhoCanRequest, callback: grpc.requestCallback<_keybroker_admin_v1_WhoCanResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The grants that let someone call a destination (optionally one method and path).
   */
  whoCan(argument: _keybroker_admin_v1_WhoCanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_WhoCanResponse__Output>): grpc.ClientUnaryCall;
  whoCan(argument: _keybroker_admin_v1_WhoCanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_admin_v1_WhoCanResponse__Output>): grpc.ClientUnaryCall;
  whoCan(argument: _keybroker_admin_v1_WhoCanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_admin_v1_WhoCanResponse__Output>): grpc.ClientUnaryCall;
  whoCan(argument: _keybroker_admin_v1_WhoCanRequest, callback: grpc.requestCallback<_keybroker_admin_v1_WhoCanResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Operators' access to a running keybroker. Served only on the admin listener (a Unix
 * socket, or mTLS with an allowlist of admin SPIFFE IDs), never on the Check listener.
 * Every call is audited: who called, which method, and the result.
 */
export interface AdminServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The grants an identity holds (optionally at one destination).
   */
  Can: grpc.handleUnaryCall<_keybroker_admin_v1_CanRequest__Output, _keybroker_admin_v1_CanResponse>;
  
  /**
   * The decision Check would make for a described request, from the configuration in
   * force: the same facts and answer as `keybroker explain`. Carries a key id, never a key.
   */
  Explain: grpc.handleUnaryCall<_keybroker_admin_v1_ExplainRequest__Output, _keybroker_admin_v1_ExplainResponse>;
  
  /**
   * The public keys that verify keybroker's gateway tokens, as a JWKS (RFC 7517).
   */
  GetJwks: grpc.handleUnaryCall<_keybroker_admin_v1_GetJwksRequest__Output, _keybroker_admin_v1_GetJwksResponse>;
  
  /**
   * Reads the configuration file again; applies it whole or rejects it with the errors.
   */
  Reload: grpc.handleUnaryCall<_keybroker_admin_v1_ReloadRequest__Output, _keybroker_admin_v1_ReloadResponse>;
  
  /**
   * What is in force: policy version, config hash, keys, bundles, listeners, audit queue.
   */
  Status: grpc.handleUnaryCall<_keybroker_admin_v1_StatusRequest__Output, _keybroker_admin_v1_StatusResponse>;
  
  /**
   * The grants that let someone call a destination (optionally one method and path).
   */
  WhoCan: grpc.handleUnaryCall<_keybroker_admin_v1_WhoCanRequest__Output, _keybroker_admin_v1_WhoCanResponse>;
  
}

export interface AdminServiceDefinition extends grpc.ServiceDefinition {
  Can: MethodDefinition<_keybroker_admin_v1_CanRequest, _keybroker_admin_v1_CanResponse, _keybroker_admin_v1_CanRequest__Output, _keybroker_admin_v1_CanResponse__Output>
  Explain: MethodDefinition<_keybroker_admin_v1_ExplainRequest, _keybroker_admin_v1_ExplainResponse, _keybroker_admin_v1_ExplainRequest__Output, _keybroker_admin_v1_ExplainResponse__Output>
  GetJwks: MethodDefinition<_keybroker_admin_v1_GetJwksRequest, _keybroker_admin_v1_GetJwksResponse, _keybroker_admin_v1_GetJwksRequest__Output, _keybroker_admin_v1_GetJwksResponse__Output>
  Reload: MethodDefinition<_keybroker_admin_v1_ReloadRequest, _keybroker_admin_v1_ReloadResponse, _keybroker_admin_v1_ReloadRequest__Output, _keybroker_admin_v1_ReloadResponse__Output>
  Status: MethodDefinition<_keybroker_admin_v1_StatusRequest, _keybroker_admin_v1_StatusResponse, _keybroker_admin_v1_StatusRequest__Output, _keybroker_admin_v1_StatusResponse__Output>
  WhoCan: MethodDefinition<_keybroker_admin_v1_WhoCanRequest, _keybroker_admin_v1_WhoCanResponse, _keybroker_admin_v1_WhoCanRequest__Output, _keybroker_admin_v1_WhoCanResponse__Output>
}
