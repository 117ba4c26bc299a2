/** The credential phase: the key for the destination, from the key store (cached). */
import { Denial } from '../lib/denial.ts';
import { isPromise } from '../lib/maybe-async.ts';
import type { CheckContext, Phase } from '../model/phase.ts';
import { need } from '../model/phase.ts';
import { KeyUnavailableError, type KeyStore } from './store.ts';
import type { Secret } from './secret.ts';

export const credentialPhase: Phase<KeyStore> = {
  name: 'credential',
  run(ctx, keys) {
    const ref = need(ctx.destination, 'the destination').keyRef;
    try {
      const secret = keys.get(ref);
      if (isPromise(secret)) return secret.then((s) => hold(ctx, s), unavailable);
      hold(ctx, secret);
    } catch (error) {
      unavailable(error);
    }
  },
};

function hold(ctx: CheckContext, secret: Secret): void {
  ctx.secret = secret;
  ctx.record.keyId = secret.id;
}

function unavailable(error: unknown): never {
  if (error instanceof KeyUnavailableError) throw new Denial('key_unavailable', error.message);
  throw error;
}
