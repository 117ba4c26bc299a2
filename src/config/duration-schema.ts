import { z } from 'zod';
import { parseDuration } from './duration.ts';

/** A duration in the configuration ("30s", "5m", "1h"), as milliseconds. */
export const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as "30s", "5m" or "1h", got "${text}"` });
    return z.NEVER;
  }
  return ms;
});
