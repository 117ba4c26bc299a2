/** The authenticate phase: who is calling (the principal), and for whom (the person). */
import type { CheckContext, Phase } from '../model/phase.ts';
import { authenticate, type Authenticated, type IdentitySettings } from './authenticate.ts';
import { isPromise } from '../lib/maybe-async.ts';

export const authenticatePhase: Phase<IdentitySettings> = {
  name: 'authenticate',
  run(ctx, settings) {
    const authenticated = authenticate(ctx.facts, settings);
    if (isPromise(authenticated)) return authenticated.then((a) => learn(ctx, a));
    learn(ctx, authenticated);
  },
};

function learn(ctx: CheckContext, { principal, person }: Authenticated): void {
  ctx.principal = principal;
  ctx.person = person;
  const record = ctx.record;
  record.identity = principal.id;
  record.proof = principal.proof;
  if (person) {
    record.person = person.sub;
    if (person.email) record.personEmail = person.email;
  }
}
