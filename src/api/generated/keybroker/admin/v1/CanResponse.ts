// Original file: proto/keybroker/admin/v1/admin.proto

import type { Grant as _keybroker_admin_v1_Grant, Grant__Output as _keybroker_admin_v1_Grant__Output } from '../../../keybroker/admin/v1/Grant';

export interface CanResponse {
  'grants'?: (_keybroker_admin_v1_Grant)[];
  'policy_version'?: (string);
  /**
   * Deny rules that name the identity: they beat any grant.
   */
  'denials'?: (_keybroker_admin_v1_Grant)[];
}

export interface CanResponse__Output {
  'grants': (_keybroker_admin_v1_Grant__Output)[];
  'policy_version': (string);
  /**
   * Deny rules that name the identity: they beat any grant.
   */
  'denials': (_keybroker_admin_v1_Grant__Output)[];
}
