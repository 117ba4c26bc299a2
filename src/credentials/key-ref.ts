/**
 * Key references as a destination or a grant names them: `openai/prod`, a Vault version
 * `openai/prod@7`, one field of a secret with fields `stripe/prod#secret_key`, and a key
 * chosen by the caller's team `openai/{team}`. Parsed once at load; resolving one for a
 * request is a string replacement at most.
 */
import type { KeyRef } from '../model/check.ts';

export type { KeyRef };
const SEGMENT = '(?:[A-Za-z0-9._-]|\\{team\\})+';
/** What the config schema accepts as a key reference. */
export const KEY_REF = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*(?:@[1-9][0-9]*)?(?:#[A-Za-z0-9_-]{1,64})?$`);
export const TEAM = '{team}';

export function parseKeyRef(text: string): KeyRef {
  if (!KEY_REF.test(text)) throw new Error(`"${text}" is not a key reference such as "openai/prod", "openai/prod@7", "stripe/prod#secret_key" or "openai/{team}"`);
  const hash = text.indexOf('#');
  const store = hash === -1 ? text : text.slice(0, hash);
  return { text, perTeam: store.includes(TEAM), store, field: hash === -1 ? undefined : text.slice(hash + 1) };
}

/** The store reference for `team` (team names are path-safe: `^[a-z0-9][a-z0-9_-]*$`). */
export function storeRefFor(ref: KeyRef, team: string | undefined): string {
  return ref.perTeam && team !== undefined ? ref.store.replaceAll(TEAM, team) : ref.store;
}
