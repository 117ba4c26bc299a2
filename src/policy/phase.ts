/**
 * The authorize phase: the compiled policy decides; default deny, any deny rule wins.
 * Shadow rules and the candidate policy are evaluated beside it and recorded when they
 * would answer otherwise; they never change the answer.
 */
import { Denial } from '../lib/denial.ts';
import { need, type Phase } from '../model/phase.ts';
import type { CompiledPolicy } from './compile.ts';
import { evaluate, type PolicyInput } from './evaluate.ts';
import { candidateDivergence, shadowDivergence } from './shadow.ts';

export interface Authorization {
  readonly policy: CompiledPolicy;
  /** `policyCandidate`, compiled: evaluated beside the policy, never enforced. */
  readonly candidate: CompiledPolicy | undefined;
}

export const authorizePhase: Phase<Authorization> = {
  name: 'authorize',
  run(ctx, { policy, candidate }) {
    const principal = need(ctx.principal, 'the principal');
    const destination = need(ctx.destination, 'the destination');
    if (principal.scope && !principal.scope.includes(destination.name)) {
      throw new Denial('scope_exceeded', `the gateway token is scoped to ${principal.scope.join(', ')}`);
    }
    const body = ctx.body;
    const input: PolicyInput = {
      identity: principal.id,
      destination: destination.name,
      method: ctx.facts.method,
      path: need(ctx.upstreamPath, 'the upstream path'),
      person: ctx.person,
      body: body ? () => body.facts() : undefined,
    };
    const result = evaluate(policy, input);
    const record = ctx.record;
    if (policy.shadow) {
      const shadow = shadowDivergence(policy.shadow, input, result);
      if (shadow) record.shadow = shadow;
    }
    if (candidate) {
      const diverged = candidateDivergence(candidate, input, result);
      if (diverged) record.candidate = diverged;
    }
    record.rule = result.rule;
    if (!result.allow) throw new Denial(result.reason, denialDetail(result));
    ctx.policy = result;
  },
};

function denialDetail(result: { rule?: string | undefined; detail?: string }): string | undefined {
  if (!result.rule) return undefined;
  return result.detail ? `rule "${result.rule}": ${result.detail}` : `rule "${result.rule}"`;
}
