/**
 * SPIFFE ID parsing by the SPIFFE ID specification: `spiffe://<trust-domain><path>`.
 * Strict on purpose: anything a lenient URL parser would normalise (case, percent-encoding,
 * dot segments) could let two spellings name one workload, so it is rejected instead.
 */
export interface SpiffeId {
  /** The whole ID, exactly as validated. */
  readonly id: string;
  readonly trustDomain: string;
  /** Empty, or `/seg/seg`. */
  readonly path: string;
}

export class SpiffeIdError extends Error {
  override readonly name = 'SpiffeIdError';
  readonly code = 'ERR_SPIFFE_ID';
}

const SCHEME = 'spiffe://';
const MAX_ID_BYTES = 2048;
const MAX_TRUST_DOMAIN_BYTES = 255;
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

export function parseSpiffeId(input: string): SpiffeId {
  if (typeof input !== 'string' || input.length === 0) throw new SpiffeIdError('SPIFFE ID is empty');
  if (Buffer.byteLength(input) > MAX_ID_BYTES) throw new SpiffeIdError(`SPIFFE ID is longer than ${MAX_ID_BYTES} bytes`);
  if (!input.startsWith(SCHEME)) throw new SpiffeIdError('SPIFFE ID must start with "spiffe://"');

  const rest = input.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);

  checkTrustDomain(trustDomain);
  if (path !== '') checkPath(path);
  return { id: input, trustDomain, path };
}

export function checkTrustDomain(trustDomain: string): void {
  if (trustDomain.length === 0) throw new SpiffeIdError('SPIFFE ID has no trust domain');
  if (Buffer.byteLength(trustDomain) > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeIdError(`trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`);
  }
  if (!TRUST_DOMAIN_CHARS.test(trustDomain)) {
    throw new SpiffeIdError('trust domain may contain only lowercase letters, digits, ".", "-" and "_"');
  }
}

function checkPath(path: string): void {
  if (path === '/') throw new SpiffeIdError('SPIFFE ID path must not end with "/"');
  // path starts with '/', so the first element of the split is always ''.
  const segments = path.split('/').slice(1);
  for (const segment of segments) {
    if (segment === '') throw new SpiffeIdError('SPIFFE ID path has an empty segment or a trailing "/"');
    if (segment === '.' || segment === '..') throw new SpiffeIdError('SPIFFE ID path must not contain "." or ".." segments');
    if (!SEGMENT_CHARS.test(segment)) {
      throw new SpiffeIdError('SPIFFE ID path segments may contain only letters, digits, ".", "-" and "_"');
    }
  }
}
