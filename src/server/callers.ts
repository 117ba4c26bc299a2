/**
 * On TCP with mTLS, the TLS layer proves the caller holds a certificate from the client
 * CA; this allowlist narrows that to Envoy's own SPIFFE IDs (invariant 2).
 */
import type { PeerCertificate } from 'node:tls';
import { parseUriSans } from '../identity/x509-svid.ts';

export type CallerCheck = (peer: PeerCertificate | undefined) => boolean;

export function callerAllowlist(patterns: readonly string[]): CallerCheck {
  const exact = new Set(patterns.filter((p) => !p.endsWith('/*')));
  const prefixes = patterns.filter((p) => p.endsWith('/*')).map((p) => p.slice(0, -1));
  return (peer) => {
    const san = peer?.subjectaltname;
    if (!san) return false;
    const uris = parseUriSans(san);
    if (uris.length !== 1) return false;
    const id = uris[0] as string;
    return exact.has(id) || prefixes.some((prefix) => id.startsWith(prefix));
  };
}
