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
   * The path as the agent sends it (/openai/v1/chat/completions), or after the route
   * prefix (/v1/chat/completions), which gets the prefix added.
   */
  'path'?: (string);
  /**
   * Optional: the :authority (default: the destination's upstream).
   */
  'authority'?: (string);
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
   * The path as the agent sends it (/openai/v1/chat/completions), or after the route
   * prefix (/v1/chat/completions), which gets the prefix added.
   */
  'path': (string);
  /**
   * Optional: the :authority (default: the destination's upstream).
   */
  'authority': (string);
}
