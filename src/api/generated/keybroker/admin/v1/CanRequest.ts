// Original file: proto/keybroker/admin/v1/admin.proto


export interface CanRequest {
  'identity'?: (string);
  /**
   * Optional: only grants at this destination.
   */
  'destination'?: (string);
}

export interface CanRequest__Output {
  'identity': (string);
  /**
   * Optional: only grants at this destination.
   */
  'destination': (string);
}
