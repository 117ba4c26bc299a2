/**
 * Where an agent's identity token travels: `authorization: Bearer …`, or `x-api-key` /
 * `api-key` where the AI SDKs put their key, or a configured header. Only a value shaped
 * as a compact JWS is taken as a token; anything else (an SDK's placeholder key) is not
 * an identity, though it is still stripped before the request goes upstream.
 */
import { Denial } from '../lib/denial.ts';

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;
export const MAX_TOKEN_BYTES = 16 * 1024;

/** A value that claims to be a JWT: three dot-separated parts, or the `eyJ` of a JSON header. */
function looksLikeJwt(value: string): boolean {
  return value.startsWith('eyJ') || COMPACT_JWS.test(value);
}

export function tokenIn(value: string | undefined, header: string): string | undefined {
  if (value === undefined) return undefined;
  let candidate = value.trim();
  if (header === 'authorization' || header === 'proxy-authorization') {
    const match = /^bearer\s+(\S+)$/i.exec(candidate);
    if (!match) return undefined;
    candidate = match[1] as string;
  }
  if (!looksLikeJwt(candidate)) return undefined;
  if (candidate.length > MAX_TOKEN_BYTES) throw new Denial('token_malformed', `the token in ${header} is larger than ${MAX_TOKEN_BYTES} bytes`);
  if (!COMPACT_JWS.test(candidate)) throw new Denial('token_malformed', `the token in ${header} is not a compact JWS`);
  return candidate;
}

/** The one identity token the request carries, if any. Two different ones are a conflict. */
export function findIdentityToken(headers: ReadonlyMap<string, string>, names: readonly string[]): string | undefined {
  let found: string | undefined;
  for (const name of names) {
    const token = tokenIn(headers.get(name), name);
    if (token === undefined) continue;
    if (found !== undefined && found !== token) throw new Denial('identity_conflict', 'the request carries two different identity tokens');
    found = token;
  }
  return found;
}
