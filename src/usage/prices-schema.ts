/**
 * The `prices:` section: USD per million input, cached-input and output tokens, per
 * destination and model pattern. Prices are quoted decimal strings (a YAML float would
 * already have lost the exact value before keybroker saw it). Its own module so that the
 * main schema grows by two lines; `checkPriceReferences` checks the destinations and that
 * no pattern is given twice.
 */
import { z } from 'zod';
import { parseUsd } from '../limit/money.ts';

const perMillion = z.string({ error: 'expected USD per million tokens as a quoted decimal, such as "0.15" (quoted, so no floating point touches money)' }).superRefine((text, ctx) => {
  if (parseUsd(text) === undefined) ctx.addIssue({ code: 'custom', message: `expected USD per million tokens as a quoted decimal with at most 6 places, such as "0.15", got "${text}"` });
});

/** Exact ("gpt-4o-mini-2024-07-18"), a prefix ending in "*" ("gpt-4o-mini*"), or "*" (every model). */
const modelPattern = z.string().regex(/^(?:[A-Za-z0-9._:/@+-]+\*?|\*)$/, 'expected a model name ("gpt-4o"), a prefix ending in "*" ("gpt-4o*"), or "*" for every model');

export const priceSchema = z.strictObject({
  destination: z.string().min(1),
  model: modelPattern,
  inputPerMillion: perMillion,
  /** Absent: cached input costs as much as input. */
  cachedInputPerMillion: perMillion.optional(),
  outputPerMillion: perMillion,
});

export const pricesSchema = z.array(priceSchema);

export type PriceConfig = z.output<typeof priceSchema>;

/** Each destination's patterns are distinct (so precedence decides every match) and the destinations exist. */
export function checkPriceReferences(config: { readonly destinations: Record<string, unknown>; readonly prices?: readonly PriceConfig[] | undefined }, ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  config.prices?.forEach((price, index) => {
    if (!(price.destination in config.destinations)) {
      ctx.addIssue({
        code: 'custom',
        path: ['prices', index, 'destination'],
        message: `unknown destination "${price.destination}"; configured: ${Object.keys(config.destinations).join(', ') || 'none'}`,
      });
    }
    const key = `${price.destination}\u0000${price.model}`;
    const first = seen.get(key);
    if (first !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['prices', index, 'model'],
        message: `"${price.model}" is priced twice for destination "${price.destination}" (also prices[${first}]): which one applies would be ambiguous`,
      });
    } else {
      seen.set(key, index);
    }
  });
}
