/**
 * Policy that is evaluated but not enforced: shadow rules (`mode: shadow`) and a whole
 * candidate policy (`policyCandidate`). Each yields the answer it would give, recorded
 * only when it differs from the enforced one. Nothing here can change or fail the
 * enforced answer: an error while evaluating is itself the would-be answer.
 */
import { Denial } from '../lib/denial.ts';
import type { Divergence } from '../model/check.ts';
import type { CompiledPolicy, ShadowIndexes } from './compile.ts';
import { evaluate, type PolicyInput, type PolicyResult } from './evaluate.ts';

/** What the policy would answer with its shadow rules enforced, if that differs from `enforced`. */
export function shadowDivergence(shadow: ShadowIndexes, input: PolicyInput, enforced: PolicyResult): Divergence | undefined {
  // No shadow rule applies to most requests: then the answer cannot differ.
  const touched = wouldBe(() => evaluate(shadow.only, input));
  if (!touched.allow && touched.rule === undefined) return undefined;
  return divergence(
    wouldBe(() => evaluate(shadow.all, input)),
    enforced,
  );
}

/** What the candidate policy would answer, if that differs from `enforced`. */
export function candidateDivergence(candidate: CompiledPolicy, input: PolicyInput, enforced: PolicyResult): Divergence | undefined {
  return divergence(
    wouldBe(() => evaluate(candidate, input)),
    enforced,
  );
}

type WouldBe = PolicyResult | { readonly allow: false; readonly reason: Divergence['reason']; readonly rule?: undefined };

function wouldBe(decide: () => PolicyResult): WouldBe {
  try {
    return decide();
  } catch (error) {
    return { allow: false, reason: error instanceof Denial ? error.reason : 'internal_error' };
  }
}

function divergence(result: WouldBe, enforced: PolicyResult): Divergence | undefined {
  const reason = result.allow ? 'allowed' : result.reason;
  if (result.allow === enforced.allow && reason === (enforced.allow ? 'allowed' : enforced.reason)) return undefined;
  const decision = result.allow ? 'allow' : 'deny';
  return result.rule === undefined ? { decision, reason } : { decision, reason, rule: result.rule };
}
