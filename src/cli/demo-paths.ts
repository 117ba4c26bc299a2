/** Where the shipped demo lives, so commands can default to it and point at it. */
import { fileURLToPath } from 'node:url';

export const DEMO_CONFIG = fileURLToPath(new URL('../../examples/keybroker.yaml', import.meta.url));
export const DEMO_KEYS = fileURLToPath(new URL('../../examples/keys.yaml', import.meta.url));
export const DEMO_SIGNING_KEY = fileURLToPath(new URL('../../examples/demo-jwt/signing-key.jwk', import.meta.url));

/** For a missing key file: the command that creates the demo's, when it is the demo's. */
export function demoKeysHint(file: string): string {
  return file === DEMO_KEYS ? " (`npm start` or `node examples/demo-keys.ts` creates the demo's)" : '';
}
