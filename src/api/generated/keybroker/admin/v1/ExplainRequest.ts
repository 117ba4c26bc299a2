// Original file: proto/keybroker/admin/v1/admin.proto


export interface ExplainRequest {
  /**
   * The agent's SPIFFE ID.
   */
  'identity'?: (string);
  /**
   * The destination name, as the Envoy route would name it.
   */
  'destination'?: (string);
  /**
   * The HTTP method.
   */
  'method'?: (string);
  /**
   * The path as the provider sees it (after the route prefix).
   */
  'path'?: (string);
}

export interface ExplainRequest__Output {
  /**
   * The agent's SPIFFE ID.
   */
  'identity': (string);
  /**
   * The destination name, as the Envoy route would name it.
   */
  'destination': (string);
  /**
   * The HTTP method.
   */
  'method': (string);
  /**
   * The path as the provider sees it (after the route prefix).
   */
  'path': (string);
}
