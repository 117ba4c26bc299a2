/**
 * An access review as the admin API answers it (WhoCan, Can), and as `who-can` and `can`
 * print it, whether the review was made here or by a running keybroker.
 */
import type { AccessReview, ReviewedRule } from '../policy/access-review.ts';
import type { Grant__Output } from '../api/generated/keybroker/admin/v1/Grant.ts';

export interface ReviewMessage {
  readonly grants: Grant__Output[];
  readonly denials: Grant__Output[];
  readonly policy_version: string;
}

export function reviewMessage(review: AccessReview, policyVersion: string): ReviewMessage {
  const grant = (r: ReviewedRule): Grant__Output => ({
    rule: r.rule,
    identities: [...r.identities],
    destinations: [...r.destinations],
    methods: [...r.methods],
    paths: [...r.paths],
    person_required: r.personRequired,
    person_groups: [...r.personGroups],
    conditions: [...r.conditions],
  });
  return { grants: review.grants.map(grant), denials: review.denials.map(grant), policy_version: policyVersion };
}
