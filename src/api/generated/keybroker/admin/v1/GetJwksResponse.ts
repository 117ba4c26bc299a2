// Original file: proto/keybroker/admin/v1/admin.proto


export interface GetJwksResponse {
  /**
   * A JSON Web Key Set: the current signing key and those still within their overlap.
   */
  'jwks'?: (string);
}

export interface GetJwksResponse__Output {
  /**
   * A JSON Web Key Set: the current signing key and those still within their overlap.
   */
  'jwks': (string);
}
