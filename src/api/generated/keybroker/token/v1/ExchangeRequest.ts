// Original file: proto/keybroker/token/v1/token.proto


export interface ExchangeRequest {
  /**
   * "urn:ietf:params:oauth:grant-type:token-exchange".
   */
  'grant_type'?: (string);
  /**
   * The Kubernetes service-account token; empty when the mTLS certificate is the proof.
   */
  'subject_token'?: (string);
  /**
   * "urn:ietf:params:oauth:token-type:jwt" with a subject token; empty otherwise.
   */
  'subject_token_type'?: (string);
  /**
   * Empty or "keybroker": gateway tokens are for keybroker alone.
   */
  'audience'?: (string);
  /**
   * Optional downscope: destination names, each one the identity may already reach.
   */
  'scope'?: (string)[];
  /**
   * Optional: a lifetime shorter than the configured one, in seconds.
   */
  'requested_ttl_seconds'?: (number);
  /**
   * Empty or "urn:ietf:params:oauth:token-type:jwt".
   */
  'requested_token_type'?: (string);
}

export interface ExchangeRequest__Output {
  /**
   * "urn:ietf:params:oauth:grant-type:token-exchange".
   */
  'grant_type': (string);
  /**
   * The Kubernetes service-account token; empty when the mTLS certificate is the proof.
   */
  'subject_token': (string);
  /**
   * "urn:ietf:params:oauth:token-type:jwt" with a subject token; empty otherwise.
   */
  'subject_token_type': (string);
  /**
   * Empty or "keybroker": gateway tokens are for keybroker alone.
   */
  'audience': (string);
  /**
   * Optional downscope: destination names, each one the identity may already reach.
   */
  'scope': (string)[];
  /**
   * Optional: a lifetime shorter than the configured one, in seconds.
   */
  'requested_ttl_seconds': (number);
  /**
   * Empty or "urn:ietf:params:oauth:token-type:jwt".
   */
  'requested_token_type': (string);
}
