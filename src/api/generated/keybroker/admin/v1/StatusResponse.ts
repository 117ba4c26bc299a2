// Original file: proto/keybroker/admin/v1/admin.proto

import type { KeyStatus as _keybroker_admin_v1_KeyStatus, KeyStatus__Output as _keybroker_admin_v1_KeyStatus__Output } from '../../../keybroker/admin/v1/KeyStatus';
import type { BundleStatus as _keybroker_admin_v1_BundleStatus, BundleStatus__Output as _keybroker_admin_v1_BundleStatus__Output } from '../../../keybroker/admin/v1/BundleStatus';
import type { ListenerStatus as _keybroker_admin_v1_ListenerStatus, ListenerStatus__Output as _keybroker_admin_v1_ListenerStatus__Output } from '../../../keybroker/admin/v1/ListenerStatus';
import type { AuditStatus as _keybroker_admin_v1_AuditStatus, AuditStatus__Output as _keybroker_admin_v1_AuditStatus__Output } from '../../../keybroker/admin/v1/AuditStatus';
import type { ReloadStatus as _keybroker_admin_v1_ReloadStatus, ReloadStatus__Output as _keybroker_admin_v1_ReloadStatus__Output } from '../../../keybroker/admin/v1/ReloadStatus';

export interface StatusResponse {
  'policy_version'?: (string);
  'config_file'?: (string);
  /**
   * sha256 of the configuration in force (its canonical JSON, after validation).
   */
  'config_sha256'?: (string);
  'keys'?: (_keybroker_admin_v1_KeyStatus)[];
  'bundles'?: (_keybroker_admin_v1_BundleStatus)[];
  'listeners'?: (_keybroker_admin_v1_ListenerStatus)[];
  'audit'?: (_keybroker_admin_v1_AuditStatus | null);
  'reloads'?: (_keybroker_admin_v1_ReloadStatus | null);
  /**
   * The kid of the key that signs gateway tokens now, if gateway tokens are enabled.
   */
  'signing_key_id'?: (string);
}

export interface StatusResponse__Output {
  'policy_version': (string);
  'config_file': (string);
  /**
   * sha256 of the configuration in force (its canonical JSON, after validation).
   */
  'config_sha256': (string);
  'keys': (_keybroker_admin_v1_KeyStatus__Output)[];
  'bundles': (_keybroker_admin_v1_BundleStatus__Output)[];
  'listeners': (_keybroker_admin_v1_ListenerStatus__Output)[];
  'audit': (_keybroker_admin_v1_AuditStatus__Output | null);
  'reloads': (_keybroker_admin_v1_ReloadStatus__Output | null);
  /**
   * The kid of the key that signs gateway tokens now, if gateway tokens are enabled.
   */
  'signing_key_id': (string);
}
