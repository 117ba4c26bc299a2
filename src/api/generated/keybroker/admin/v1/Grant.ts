// Original file: proto/keybroker/admin/v1/admin.proto


/**
 * A grant of the policy in force, as compiled.
 */
export interface Grant {
  'rule'?: (string);
  /**
   * SPIFFE IDs, exact or prefixes ending in "/*".
   */
  'identities'?: (string)[];
  'destinations'?: (string)[];
  'methods'?: (string)[];
  'paths'?: (string)[];
  /**
   * Whether a verified natural person must be present, and in which groups.
   */
  'person_required'?: (boolean);
  'person_groups'?: (string)[];
}

/**
 * A grant of the policy in force, as compiled.
 */
export interface Grant__Output {
  'rule': (string);
  /**
   * SPIFFE IDs, exact or prefixes ending in "/*".
   */
  'identities': (string)[];
  'destinations': (string)[];
  'methods': (string)[];
  'paths': (string)[];
  /**
   * Whether a verified natural person must be present, and in which groups.
   */
  'person_required': (boolean);
  'person_groups': (string)[];
}
