// Original file: proto/keybroker/admin/v1/admin.proto


export interface ListenerStatus {
  /**
   * "check", "admin" or "token".
   */
  'name'?: (string);
  'address'?: (string);
  /**
   * "serving".
   */
  'state'?: (string);
}

export interface ListenerStatus__Output {
  /**
   * "check", "admin" or "token".
   */
  'name': (string);
  'address': (string);
  /**
   * "serving".
   */
  'state': (string);
}
