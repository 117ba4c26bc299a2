/** The authorize phase: the compiled policy decides; default deny, any deny rule wins. */
import { Denial } from '../lib/denial.ts';
import { need, type Phase } from '../model/phase.ts';
import type { CompiledPolicy } from './compile.ts';
import { evaluate } from './evaluate.ts';

export const authorizePhase: Phase<CompiledPolicy> = {
  name: 'authorize',
  run(ctx, policy) {
    const principal = need(ctx.principal, 'the principal');
    const destination = need(ctx.destination, 'the destination');
    if (principal.scope && !principal.scope.includes(destination.name)) {
      throw new Denial('scope_exceeded', `the gateway token is scoped to ${principal.scope.join(', ')}`);
    }
    const body = ctx.body;
    const result = evaluate(policy, {
      identity: principal.id,
      destination: destination.name,
      method: ctx.facts.method,
      path: need(ctx.upstreamPath, 'the upstream path'),
      person: ctx.person,
      body: body ? () => body.facts() : undefined,
    });
    ctx.record.rule = result.rule;
    if (!result.allow) throw new Denial(result.reason, denialDetail(result));
    ctx.policy = result;
  },
};

function denialDetail(result: { rule?: string | undefined; detail?: string }): string | undefined {
  if (!result.rule) return undefined;
  return result.detail ? `rule "${result.rule}": ${result.detail}` : `rule "${result.rule}"`;
}
