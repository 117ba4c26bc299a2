// Original file: proto/keybroker/admin/v1/admin.proto


/**
 * A rule of the policy in force (a grant, or in `denials` a deny rule).
 */
export interface Grant {
  'rule'?: (string);
  /**
   * SPIFFE IDs, exact or prefixes ending in "/*".
   */
  'identities'?: (string)[];
  'destinations'?: (string)[];
  /**
   * Empty: any method.
   */
  'methods'?: (string)[];
  /**
   * Empty: any path.
   */
  'paths'?: (string)[];
  /**
   * Whether a verified natural person must be present, and in which groups.
   */
  'person_required'?: (boolean);
  'person_groups'?: (string)[];
  /**
   * What the rule asks of the request body, one condition each ("models: gpt-4o-mini").
   */
  'conditions'?: (string)[];
}

/**
 * A rule of the policy in force (a grant, or in `denials` a deny rule).
 */
export interface Grant__Output {
  'rule': (string);
  /**
   * SPIFFE IDs, exact or prefixes ending in "/*".
   */
  'identities': (string)[];
  'destinations': (string)[];
  /**
   * Empty: any method.
   */
  'methods': (string)[];
  /**
   * Empty: any path.
   */
  'paths': (string)[];
  /**
   * Whether a verified natural person must be present, and in which groups.
   */
  'person_required': (boolean);
  'person_groups': (string)[];
  /**
   * What the rule asks of the request body, one condition each ("models: gpt-4o-mini").
   */
  'conditions': (string)[];
}
