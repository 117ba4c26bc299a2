import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AdminServiceClient as _keybroker_admin_v1_AdminServiceClient, AdminServiceDefinition as _keybroker_admin_v1_AdminServiceDefinition } from './keybroker/admin/v1/AdminService';
import type { AuditStatus as _keybroker_admin_v1_AuditStatus, AuditStatus__Output as _keybroker_admin_v1_AuditStatus__Output } from './keybroker/admin/v1/AuditStatus';
import type { BundleStatus as _keybroker_admin_v1_BundleStatus, BundleStatus__Output as _keybroker_admin_v1_BundleStatus__Output } from './keybroker/admin/v1/BundleStatus';
import type { CanRequest as _keybroker_admin_v1_CanRequest, CanRequest__Output as _keybroker_admin_v1_CanRequest__Output } from './keybroker/admin/v1/CanRequest';
import type { CanResponse as _keybroker_admin_v1_CanResponse, CanResponse__Output as _keybroker_admin_v1_CanResponse__Output } from './keybroker/admin/v1/CanResponse';
import type { Decision as _keybroker_admin_v1_Decision, Decision__Output as _keybroker_admin_v1_Decision__Output } from './keybroker/admin/v1/Decision';
import type { ExplainRequest as _keybroker_admin_v1_ExplainRequest, ExplainRequest__Output as _keybroker_admin_v1_ExplainRequest__Output } from './keybroker/admin/v1/ExplainRequest';
import type { ExplainResponse as _keybroker_admin_v1_ExplainResponse, ExplainResponse__Output as _keybroker_admin_v1_ExplainResponse__Output } from './keybroker/admin/v1/ExplainResponse';
import type { GetJwksRequest as _keybroker_admin_v1_GetJwksRequest, GetJwksRequest__Output as _keybroker_admin_v1_GetJwksRequest__Output } from './keybroker/admin/v1/GetJwksRequest';
import type { GetJwksResponse as _keybroker_admin_v1_GetJwksResponse, GetJwksResponse__Output as _keybroker_admin_v1_GetJwksResponse__Output } from './keybroker/admin/v1/GetJwksResponse';
import type { Grant as _keybroker_admin_v1_Grant, Grant__Output as _keybroker_admin_v1_Grant__Output } from './keybroker/admin/v1/Grant';
import type { KeyStatus as _keybroker_admin_v1_KeyStatus, KeyStatus__Output as _keybroker_admin_v1_KeyStatus__Output } from './keybroker/admin/v1/KeyStatus';
import type { ListenerStatus as _keybroker_admin_v1_ListenerStatus, ListenerStatus__Output as _keybroker_admin_v1_ListenerStatus__Output } from './keybroker/admin/v1/ListenerStatus';
import type { ReloadRequest as _keybroker_admin_v1_ReloadRequest, ReloadRequest__Output as _keybroker_admin_v1_ReloadRequest__Output } from './keybroker/admin/v1/ReloadRequest';
import type { ReloadResponse as _keybroker_admin_v1_ReloadResponse, ReloadResponse__Output as _keybroker_admin_v1_ReloadResponse__Output } from './keybroker/admin/v1/ReloadResponse';
import type { ReloadStatus as _keybroker_admin_v1_ReloadStatus, ReloadStatus__Output as _keybroker_admin_v1_ReloadStatus__Output } from './keybroker/admin/v1/ReloadStatus';
import type { StatusRequest as _keybroker_admin_v1_StatusRequest, StatusRequest__Output as _keybroker_admin_v1_StatusRequest__Output } from './keybroker/admin/v1/StatusRequest';
import type { StatusResponse as _keybroker_admin_v1_StatusResponse, StatusResponse__Output as _keybroker_admin_v1_StatusResponse__Output } from './keybroker/admin/v1/StatusResponse';
import type { WhoCanRequest as _keybroker_admin_v1_WhoCanRequest, WhoCanRequest__Output as _keybroker_admin_v1_WhoCanRequest__Output } from './keybroker/admin/v1/WhoCanRequest';
import type { WhoCanResponse as _keybroker_admin_v1_WhoCanResponse, WhoCanResponse__Output as _keybroker_admin_v1_WhoCanResponse__Output } from './keybroker/admin/v1/WhoCanResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  keybroker: {
    admin: {
      v1: {
        /**
         * Operators' access to a running keybroker. Served only on the admin listener (a Unix
         * socket, or mTLS with an allowlist of admin SPIFFE IDs), never on the Check listener.
         * Every call is audited: who called, which method, and the result.
         */
        AdminService: SubtypeConstructor<typeof grpc.Client, _keybroker_admin_v1_AdminServiceClient> & { service: _keybroker_admin_v1_AdminServiceDefinition }
        AuditStatus: MessageTypeDefinition<_keybroker_admin_v1_AuditStatus, _keybroker_admin_v1_AuditStatus__Output>
        BundleStatus: MessageTypeDefinition<_keybroker_admin_v1_BundleStatus, _keybroker_admin_v1_BundleStatus__Output>
        CanRequest: MessageTypeDefinition<_keybroker_admin_v1_CanRequest, _keybroker_admin_v1_CanRequest__Output>
        CanResponse: MessageTypeDefinition<_keybroker_admin_v1_CanResponse, _keybroker_admin_v1_CanResponse__Output>
        Decision: MessageTypeDefinition<_keybroker_admin_v1_Decision, _keybroker_admin_v1_Decision__Output>
        ExplainRequest: MessageTypeDefinition<_keybroker_admin_v1_ExplainRequest, _keybroker_admin_v1_ExplainRequest__Output>
        ExplainResponse: MessageTypeDefinition<_keybroker_admin_v1_ExplainResponse, _keybroker_admin_v1_ExplainResponse__Output>
        GetJwksRequest: MessageTypeDefinition<_keybroker_admin_v1_GetJwksRequest, _keybroker_admin_v1_GetJwksRequest__Output>
        GetJwksResponse: MessageTypeDefinition<_keybroker_admin_v1_GetJwksResponse, _keybroker_admin_v1_GetJwksResponse__Output>
        Grant: MessageTypeDefinition<_keybroker_admin_v1_Grant, _keybroker_admin_v1_Grant__Output>
        KeyStatus: MessageTypeDefinition<_keybroker_admin_v1_KeyStatus, _keybroker_admin_v1_KeyStatus__Output>
        ListenerStatus: MessageTypeDefinition<_keybroker_admin_v1_ListenerStatus, _keybroker_admin_v1_ListenerStatus__Output>
        ReloadRequest: MessageTypeDefinition<_keybroker_admin_v1_ReloadRequest, _keybroker_admin_v1_ReloadRequest__Output>
        ReloadResponse: MessageTypeDefinition<_keybroker_admin_v1_ReloadResponse, _keybroker_admin_v1_ReloadResponse__Output>
        ReloadStatus: MessageTypeDefinition<_keybroker_admin_v1_ReloadStatus, _keybroker_admin_v1_ReloadStatus__Output>
        StatusRequest: MessageTypeDefinition<_keybroker_admin_v1_StatusRequest, _keybroker_admin_v1_StatusRequest__Output>
        StatusResponse: MessageTypeDefinition<_keybroker_admin_v1_StatusResponse, _keybroker_admin_v1_StatusResponse__Output>
        WhoCanRequest: MessageTypeDefinition<_keybroker_admin_v1_WhoCanRequest, _keybroker_admin_v1_WhoCanRequest__Output>
        WhoCanResponse: MessageTypeDefinition<_keybroker_admin_v1_WhoCanResponse, _keybroker_admin_v1_WhoCanResponse__Output>
      }
    }
  }
}

