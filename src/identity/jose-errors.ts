/** jose's failures → keybroker's stable reason codes. */
import { errors } from 'jose';
import { Denial, type Reason } from '../lib/denial.ts';

export function denialFromJose(error: unknown, what: string): Denial {
  if (error instanceof Denial) return error;
  if (error instanceof errors.JWTExpired) return new Denial('token_expired', `${what} has expired`);
  if (error instanceof errors.JWTClaimValidationFailed) {
    const byClaim: Record<string, Reason> = { nbf: 'token_not_yet_valid', iat: 'token_not_yet_valid', aud: 'audience_mismatch', iss: 'issuer_unknown' };
    const reason = byClaim[error.claim] ?? 'token_malformed';
    return new Denial(reason, `${what}: claim "${error.claim}" ${error.reason === 'missing' ? 'is missing' : 'is not acceptable'}`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new Denial('bad_signature', `${what} signature does not verify`);
  if (error instanceof errors.JOSEAlgNotAllowed) return new Denial('alg_not_allowed', `${what} uses an algorithm that is not allowed`);
  if (error instanceof errors.JWKSNoMatchingKey) return new Denial('kid_unknown', `${what} names a key that is not in the bundle`);
  if (error instanceof errors.JOSENotSupported) return new Denial('token_malformed', `${what} uses an unsupported feature (for example a critical header)`);
  if (error instanceof errors.JOSEError) return new Denial('token_malformed', `${what} is malformed (${error.code})`);
  throw error;
}
