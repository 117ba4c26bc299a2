/**
 * The identity phase: who is calling, and for whom. The agent proves itself by mTLS
 * (X.509-SVID), by a token (JWT-SVID, Kubernetes service-account token), or both — in
 * which case both must name the same identity. A user token, when present, names the
 * natural person.
 */
import { Denial } from '../lib/denial.ts';
import type { Person, Principal, RequestFacts } from '../model/check.ts';
import { findIdentityToken } from './find-token.ts';
import type { TokenVerifier } from './verifier.ts';
import { then, type MaybePromise } from '../lib/maybe-async.ts';
import { principalFromMtls } from './x509-svid.ts';
import { checkCertificateBinding } from './gateway-token.ts';

export interface IdentitySettings {
  readonly trustDomains: ReadonlySet<string>;
  readonly tokens: TokenVerifier;
}

export interface Authenticated {
  readonly principal: Principal;
  readonly person: Person | undefined;
}

/** Synchronous unless a token has to be verified (not cached yet). */
export function authenticate(facts: RequestFacts, settings: IdentitySettings): MaybePromise<Authenticated> {
  const mtls = facts.sourcePrincipal !== '' ? principalFromMtls(facts.sourcePrincipal, facts.sourceCertificate, settings.trustDomains) : undefined;
  const token = findIdentityToken(facts.headers, settings.tokens.settings.tokenHeaders);
  return then(token === undefined ? undefined : settings.tokens.verifyIdentity(token), (fromToken) => {
    if (fromToken) checkCertificateBinding(fromToken, facts.sourceCertificate);
    if (mtls && fromToken && mtls.id !== fromToken.id) {
      throw new Denial('identity_conflict', 'the mTLS principal and the identity token name different identities');
    }
    const principal = mtls ?? fromToken;
    if (!principal) throw new Denial('identity_missing', 'no mTLS principal and no identity token');
    if (!settings.trustDomains.has(principal.trustDomain)) throw new Denial('trust_domain_unknown', `identity in trust domain "${principal.trustDomain}"`);

    const personHeader = settings.tokens.settings.person?.header;
    const personToken = personHeader ? facts.headers.get(personHeader) : undefined;
    return then(personToken ? settings.tokens.verifyPerson(personToken) : undefined, (person) => ({ principal, person }));
  });
}
