/**
 * The identity phase: who is calling. Each proof method is its own module; this one
 * decides which apply to a request.
 */
import { Denial } from '../lib/denial.ts';
import type { Principal, RequestFacts } from '../pipeline/types.ts';
import { principalFromMtls } from './x509-svid.ts';

export interface IdentitySettings {
  readonly trustDomains: ReadonlySet<string>;
}

export function authenticate(facts: RequestFacts, settings: IdentitySettings): Principal {
  if (facts.sourcePrincipal !== '') {
    return principalFromMtls(facts.sourcePrincipal, facts.sourceCertificate, settings.trustDomains);
  }
  throw new Denial('identity_missing', 'no mTLS principal and no identity token');
}
