// Original file: proto/keybroker/admin/v1/admin.proto


export interface KeyStatus {
  /**
   * The key reference a destination names (e.g. "openai/prod").
   */
  'ref'?: (string);
  /**
   * Its identifier (store:path#version), never its value; empty when unavailable.
   */
  'key_id'?: (string);
  /**
   * "ok" or "unavailable".
   */
  'health'?: (string);
  /**
   * Why it is unavailable; never a value.
   */
  'error'?: (string);
  /**
   * How old the value served from cache is, for remote stores.
   */
  'age_seconds'?: (number | string);
}

export interface KeyStatus__Output {
  /**
   * The key reference a destination names (e.g. "openai/prod").
   */
  'ref': (string);
  /**
   * Its identifier (store:path#version), never its value; empty when unavailable.
   */
  'key_id': (string);
  /**
   * "ok" or "unavailable".
   */
  'health': (string);
  /**
   * Why it is unavailable; never a value.
   */
  'error': (string);
  /**
   * How old the value served from cache is, for remote stores.
   */
  'age_seconds': (number);
}
