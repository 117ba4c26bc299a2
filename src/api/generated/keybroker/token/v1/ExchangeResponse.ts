// Original file: proto/keybroker/token/v1/token.proto


export interface ExchangeResponse {
  'access_token'?: (string);
  /**
   * "urn:ietf:params:oauth:token-type:jwt".
   */
  'issued_token_type'?: (string);
  /**
   * "Bearer".
   */
  'token_type'?: (string);
  'expires_in'?: (number);
  /**
   * The destinations the token is good for; empty when not downscoped.
   */
  'scope'?: (string)[];
}

export interface ExchangeResponse__Output {
  'access_token': (string);
  /**
   * "urn:ietf:params:oauth:token-type:jwt".
   */
  'issued_token_type': (string);
  /**
   * "Bearer".
   */
  'token_type': (string);
  'expires_in': (number);
  /**
   * The destinations the token is good for; empty when not downscoped.
   */
  'scope': (string)[];
}
