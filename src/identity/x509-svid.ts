/**
 * The agent's identity from Envoy's mTLS: Envoy verified the X.509-SVID chain and passes
 * the first URI SAN as `source.principal`. When it also passes the certificate, the
 * certificate must carry exactly one URI SAN and that SAN must be the principal
 * (an X.509-SVID has exactly one, by the spec).
 */
import { X509Certificate } from 'node:crypto';
import { Denial } from '../lib/denial.ts';
import type { Principal } from '../model/check.ts';
import { parseSpiffeId, SpiffeIdError, type SpiffeId } from './spiffe-id.ts';

export function principalFromMtls(principal: string, certificatePem: string, trustDomains: ReadonlySet<string>): Principal {
  let id: SpiffeId;
  try {
    id = parsedPrincipal(principal);
  } catch (error) {
    if (error instanceof SpiffeIdError) throw new Denial('identity_malformed', `mTLS principal: ${error.message}`);
    throw error;
  }
  if (!trustDomains.has(id.trustDomain)) throw new Denial('trust_domain_unknown', `mTLS principal in trust domain "${id.trustDomain}"`);
  if (certificatePem !== '') {
    const uris = uriSans(certificatePem);
    if (uris.length !== 1) throw new Denial('certificate_mismatch', `client certificate has ${uris.length} URI SANs; an X.509-SVID has exactly one`);
    if (uris[0] !== principal) throw new Denial('certificate_mismatch', 'client certificate URI SAN differs from the mTLS principal');
  }
  return { id: id.id, trustDomain: id.trustDomain, proof: 'x509-svid' };
}

/**
 * Parsed principals: an agent's comes with each of its requests. A pure function of the
 * string; only valid ones are kept, bounded, the oldest going first.
 */
const principals = new Map<string, SpiffeId>();
const MAX_CACHED_PRINCIPALS = 1024;

function parsedPrincipal(principal: string): SpiffeId {
  const known = principals.get(principal);
  if (known) return known;
  const id = parseSpiffeId(principal);
  if (principals.size >= MAX_CACHED_PRINCIPALS) principals.delete(principals.keys().next().value as string);
  principals.set(principal, id);
  return id;
}

/**
 * Parsed certificates' URI SANs, by PEM. Parsing costs ~35 µs, more than the rest of a
 * Check, and an agent presents the same SVID until it rotates. The SANs are a pure
 * function of the PEM, and public; the oldest entry goes first once the cache is full.
 */
const sansByPem = new Map<string, readonly string[]>();
const MAX_CACHED_CERTIFICATES = 1024;

/** URI SANs of a PEM certificate. Throws a Denial when the PEM cannot be read. */
export function uriSans(pem: string): readonly string[] {
  const cached = sansByPem.get(pem);
  if (cached) return cached;
  let san: string | undefined;
  try {
    san = new X509Certificate(pem).subjectAltName;
  } catch {
    throw new Denial('certificate_mismatch', 'client certificate could not be parsed');
  }
  const uris = Object.freeze(san ? parseUriSans(san) : []);
  if (sansByPem.size >= MAX_CACHED_CERTIFICATES) sansByPem.delete(sansByPem.keys().next().value as string);
  sansByPem.set(pem, uris);
  return uris;
}

/**
 * Node renders SANs as `URI:a, DNS:b`, JSON-quoting any value that holds a delimiter,
 * so entries split cleanly on ", " outside quotes.
 */
export function parseUriSans(subjectAltName: string): string[] {
  const uris: string[] = [];
  const entry = /(\w[\w ]*):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (const m of subjectAltName.matchAll(entry)) {
    if (m[1] !== 'URI') continue;
    const raw = m[2] ?? '';
    uris.push(raw.startsWith('"') ? (JSON.parse(raw) as string) : raw);
  }
  return uris;
}
