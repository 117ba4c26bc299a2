// Original file: proto/keybroker/admin/v1/admin.proto


export interface ReloadResponse {
  'applied'?: (boolean);
  /**
   * Why the new configuration was rejected; the last good one stays in force.
   */
  'errors'?: (string)[];
  'policy_version'?: (string);
}

export interface ReloadResponse__Output {
  'applied': (boolean);
  /**
   * Why the new configuration was rejected; the last good one stays in force.
   */
  'errors': (string)[];
  'policy_version': (string);
}
