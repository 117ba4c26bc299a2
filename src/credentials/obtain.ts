/**
 * The credential phase's work, without the pipeline: which key this caller gets for this
 * destination (the grant's `key:`, else the destination's; `{team}` filled from the
 * caller's team), the key itself from the store, the field the reference names, an OAuth2
 * access token when the destination exchanges its key for one, and the rendered
 * credential. Every way this can fail is a KeyUnavailableError — never a fallback to
 * another key.
 */
import { KeyUnavailableError, type KeyStore } from './store.ts';
import { storeRefFor } from './key-ref.ts';
import { injectedFor } from './injected.ts';
import type { OAuth2Tokens } from './oauth2.ts';
import type { Secret } from './secret.ts';
import type { Credential, Injected, Injection, KeyRef } from '../model/check.ts';
import { isPromise, then, type MaybePromise } from '../lib/maybe-async.ts';

export interface CredentialSources {
  readonly keys: KeyStore;
  readonly oauth2: OAuth2Tokens;
  /** Grants with a `key:` of their own, by rule id. */
  readonly ruleKeys: ReadonlyMap<string, KeyRef>;
  /** The caller's teams (`teamsOf`), asked only when a key reference has `{team}`. */
  readonly teamsOf: (identity: string) => readonly string[];
}

export interface CredentialTarget {
  readonly name: string;
  readonly injection: Injection;
  /** The key reference in force: the matching grant's `key:`, else the destination's. */
  readonly key: KeyRef;
  /** The OAuth2 client secret's reference, when it is not `key`. */
  readonly clientSecret?: KeyRef | undefined;
}

export interface Obtained {
  /** The key whose id the record carries: the access token for OAuth2, else the key. */
  readonly secret: Credential;
  readonly injected: Injected;
}

export function obtainCredential(sources: CredentialSources, target: CredentialTarget, identity: string, deadline?: number): MaybePromise<Obtained> {
  const { oauth2 } = target.injection;
  const ref = oauth2 && target.clientSecret ? target.clientSecret : target.key;
  return then(readKey(sources, ref, identity), (key) => {
    const secret = oauth2 ? sources.oauth2.token(target.name, oauth2, key, deadline) : key;
    return then(secret, (s) => ({ secret: s, injected: injectedFor(target.injection, s) }));
  });
}

function readKey(sources: CredentialSources, ref: KeyRef, identity: string): MaybePromise<Secret> {
  let team: string | undefined;
  if (ref.perTeam) {
    const teams = sources.teamsOf(identity);
    if (teams.length !== 1) {
      throw new KeyUnavailableError(
        ref.text,
        teams.length === 0
          ? `${identity} is in no team, and the key is chosen by team`
          : `${identity} is in several teams (${teams.join(', ')}), and the key is chosen by team: give the grant its own key:`,
      );
    }
    team = teams[0];
  }
  const secret = sources.keys.get(storeRefFor(ref, team));
  const select = (s: Secret) => (ref.field === undefined ? s : s.select(ref.field));
  return isPromise(secret) ? secret.then(select) : select(secret);
}
