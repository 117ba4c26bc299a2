/**
 * The credential phase: which key this caller gets for this destination (the matching
 * grant's `key:`, else the destination's, `{team}` filled from the caller's team), the
 * key from the store, an OAuth2 access token when the destination exchanges its key for
 * one, and what that puts on the request (credentials/obtain.ts). Any of it unavailable
 * is a `key_unavailable` denial, never another key.
 */
import { performance } from 'node:perf_hooks';
import { Denial } from '../lib/denial.ts';
import { isPromise } from '../lib/maybe-async.ts';
import type { CheckContext, Phase } from '../model/phase.ts';
import { need } from '../model/phase.ts';
import { KeyUnavailableError } from './store.ts';
import { obtainCredential, type CredentialSources, type Obtained } from './obtain.ts';

export const credentialPhase: Phase<CredentialSources> = {
  name: 'credential',
  run(ctx, sources) {
    const destination = need(ctx.destination, 'the destination');
    const rule = need(ctx.policy, 'the policy decision').rule;
    const identity = need(ctx.principal, 'the principal').id;
    const target = { name: destination.name, injection: destination.injection, key: sources.ruleKeys.get(rule) ?? destination.key, clientSecret: destination.clientSecret };
    try {
      const obtained = obtainCredential(sources, target, identity, waitUntil(ctx.answerBy));
      if (isPromise(obtained)) return obtained.then((o) => hold(ctx, o), unavailable);
      hold(ctx, obtained);
    } catch (error) {
      unavailable(error);
    }
  },
};

/**
 * When a token request must give up (ms since the epoch): a little before the Check's own
 * deadline, so that a slow token endpoint is denied as key_unavailable, naming it, rather
 * than as the pipeline's deadline_exceeded.
 */
function waitUntil(answerBy: number): number | undefined {
  if (answerBy === Infinity) return undefined;
  const left = answerBy - performance.now();
  return Date.now() + left - Math.min(5, Math.max(0, left) / 10);
}

function hold(ctx: CheckContext, { secret, injected }: Obtained): void {
  ctx.secret = secret;
  ctx.injected = injected;
  ctx.record.keyId = secret.id;
}

function unavailable(error: unknown): never {
  if (error instanceof KeyUnavailableError) throw new Denial('key_unavailable', error.message);
  throw error;
}
