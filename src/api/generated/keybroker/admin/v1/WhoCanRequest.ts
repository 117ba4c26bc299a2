// Original file: proto/keybroker/admin/v1/admin.proto


export interface WhoCanRequest {
  'destination'?: (string);
  /**
   * Optional: only grants that allow this method.
   */
  'method'?: (string);
  /**
   * Optional: only grants that allow this path.
   */
  'path'?: (string);
}

export interface WhoCanRequest__Output {
  'destination': (string);
  /**
   * Optional: only grants that allow this method.
   */
  'method': (string);
  /**
   * Optional: only grants that allow this path.
   */
  'path': (string);
}
