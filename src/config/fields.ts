/**
 * Field schemas shared by the configuration's sections (the main schema and the feature
 * sub-schemas beside their features), so each is written, and validated, one way.
 */
import { z } from 'zod';
import { parseSpiffeId } from '../identity/spiffe-id.ts';
export { duration } from './duration-schema.ts';

export const nonEmpty = z.string().min(1, 'must not be empty');

export const spiffeIdPattern = z.string().superRefine((pattern, ctx) => {
  const id = pattern.endsWith('/*') ? pattern.slice(0, -2) : pattern;
  try {
    parseSpiffeId(id);
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a SPIFFE ID or a SPIFFE ID prefix ending in "/*": ${(error as Error).message}`,
    });
  }
});

/** An identity pattern names a trust domain the configuration trusts. */
export function requireTrustDomain(trust: Record<string, unknown>, pattern: string, path: PropertyKey[], ctx: z.RefinementCtx): void {
  const trustDomainOf = pattern.slice('spiffe://'.length).split('/')[0] ?? '';
  if (!(trustDomainOf in trust)) ctx.addIssue({ code: 'custom', path, message: `trust domain "${trustDomainOf}" is not configured under "trust"` });
}
