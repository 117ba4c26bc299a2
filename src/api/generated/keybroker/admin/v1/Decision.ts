// Original file: proto/keybroker/admin/v1/admin.proto


/**
 * One decision, as the audit record carries it.
 */
export interface Decision {
  /**
   * "allow" or "deny".
   */
  'decision'?: (string);
  /**
   * A stable reason code ("allowed", "no_matching_grant", ...).
   */
  'reason'?: (string);
  /**
   * The HTTP status a denial answers with (200 for an allow).
   */
  'status'?: (number);
  /**
   * The rule that decided, if one did.
   */
  'rule'?: (string);
  'policy_version'?: (string);
  'identity'?: (string);
  'destination'?: (string);
  /**
   * The key's identifier (store:path#version), never its value.
   */
  'key_id'?: (string);
  /**
   * An operator-facing explanation of a denial.
   */
  'detail'?: (string);
  /**
   * What the policy with its shadow rules enforced would answer: "same answer", or the
   * other answer ("deny (denied_by_rule, rule r)"); empty when it has no shadow rules.
   */
  'shadow'?: (string);
  /**
   * The same for the candidate policy (policyCandidate); empty when none is configured.
   */
  'candidate'?: (string);
}

/**
 * One decision, as the audit record carries it.
 */
export interface Decision__Output {
  /**
   * "allow" or "deny".
   */
  'decision': (string);
  /**
   * A stable reason code ("allowed", "no_matching_grant", ...).
   */
  'reason': (string);
  /**
   * The HTTP status a denial answers with (200 for an allow).
   */
  'status': (number);
  /**
   * The rule that decided, if one did.
   */
  'rule': (string);
  'policy_version': (string);
  'identity': (string);
  'destination': (string);
  /**
   * The key's identifier (store:path#version), never its value.
   */
  'key_id': (string);
  /**
   * An operator-facing explanation of a denial.
   */
  'detail': (string);
  /**
   * What the policy with its shadow rules enforced would answer: "same answer", or the
   * other answer ("deny (denied_by_rule, rule r)"); empty when it has no shadow rules.
   */
  'shadow': (string);
  /**
   * The same for the candidate policy (policyCandidate); empty when none is configured.
   */
  'candidate': (string);
}
