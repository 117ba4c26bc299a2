import type { KeyStore } from '../credentials/store.ts';

/** For commands that answer from policy alone: the key store is never opened or read. */
export const keysNotRead: KeyStore = {
  kind: 'none',
  get(ref) {
    throw new Error(`key "${ref}" read by a command that answers from policy alone`);
  },
  close() {},
};
