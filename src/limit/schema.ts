/**
 * The `limits:` section: request rates and token and cost budgets per identity, person,
 * team or tenant, counted in one process (`store: memory`) or across replicas in Redis.
 * Its own module so that the main schema grows by one line; cross-references (teams,
 * destinations, the person issuer) are checked by `checkLimitReferences`.
 */
import { z } from 'zod';
import { duration, nonEmpty, requireTrustDomain, spiffeIdPattern } from '../config/fields.ts';
import { parseUsd } from './money.ts';
import { parseWindow, type WindowSpec } from './window.ts';

const window = (allowMonth: boolean) =>
  z.string().transform((text, ctx): WindowSpec => {
    const spec = parseWindow(text);
    if (!spec || (spec.kind === 'month' && !allowMonth)) {
      ctx.addIssue({ code: 'custom', message: `expected a window such as "1m", "1h", "1d", "30d"${allowMonth ? ' or "month" (calendar month, UTC)' : ''}, got "${text}"` });
      return z.NEVER;
    }
    return spec;
  });

const usd = z.string({ error: 'expected US dollars as a quoted decimal, such as "500.00" (quoted, so no floating point touches money)' }).transform((text, ctx) => {
  const micros = parseUsd(text);
  if (micros === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected US dollars as a quoted decimal with at most 6 places, such as "500.00", got "${text}"` });
    return z.NEVER;
  }
  return micros;
});

const count = z.number().int('expected a whole number').positive('must be at least 1').max(1e15);

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected a lowercase name of letters, digits, "-" and "_"');

const modelPattern = z.string().regex(/^[A-Za-z0-9._:/-]+\*?$/, 'expected a model name ("gpt-4o") or a prefix ending in "*" ("gpt-4*")');

const requests = z.strictObject({ rate: count, per: window(false), burst: count.optional() }).transform((r) => ({ rate: r.rate, per: r.per, burst: r.burst ?? r.rate }));

const tokens = z
  .strictObject({ input: count.optional(), output: count.optional(), total: count.optional(), per: window(true) })
  .refine((t) => t.input !== undefined || t.output !== undefined || t.total !== undefined, 'name at least one of input, output or total');

export const limitRuleSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected a limit id of letters, digits, ".", "-" and "_"'),
    /** Scope: absent fields match everything. */
    identities: z.array(spiffeIdPattern).min(1).optional(),
    teams: z.array(name).min(1).optional(),
    /** The verified person's groups (from the person issuer's token). */
    groups: z.array(nonEmpty).min(1).optional(),
    destinations: z.array(nonEmpty).min(1).optional(),
    models: z.array(modelPattern).min(1).optional(),
    /** Whose counter: each identity's, each person's, each team's, or one for the whole tenant. */
    per: z.enum(['identity', 'person', 'team', 'tenant']).default('identity'),
    requests: requests.optional(),
    tokens: tokens.optional(),
    costUsd: z.strictObject({ max: usd, per: window(true) }).optional(),
  })
  .refine((r) => r.requests || r.tokens || r.costUsd, 'a limit needs at least one of requests, tokens or costUsd')
  .refine((r) => r.per !== 'team' || r.teams, { message: 'a limit per team names its teams (teams: [...])', path: ['teams'] });

const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/[^\s/]+(\/\d{1,2})?$/, 'expected redis://host:port or rediss://host:port (TLS), optionally with /db')
  .refine((url) => !new URL(url).password && !new URL(url).username, 'put no credentials in the URL (it is logged and shown): use username and passwordFile');

const redis = z.strictObject({
  url: redisUrl,
  username: nonEmpty.optional(),
  /** A file holding the password (AUTH); read at start, never logged. */
  passwordFile: nonEmpty.optional(),
  /** CA bundle for rediss:// when the server's certificate is not publicly trusted. */
  caFile: nonEmpty.optional(),
  /** Key prefix, so several deployments can share one Redis. */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9:._-]{1,64}$/, 'expected a key prefix such as "keybroker:"')
    .default('keybroker:'),
  /** The longest a Check waits on Redis (also bounded by Check's own deadline). */
  timeout: duration.default(100),
  connectTimeout: duration.default(2000),
});

export const limitsSchema = z.strictObject({
  store: z.union([z.literal('memory'), z.strictObject({ redis })]).default('memory'),
  /** Redis unreachable, slow or failing: deny (`limits_unavailable`, 503) or count locally at 1/replicas. */
  onStoreError: z.enum(['deny', 'local']).default('deny'),
  /** How many keybroker replicas share the limits: the local fallback grants 1/replicas of each. */
  replicas: z.number().int().min(1).max(10_000).default(1),
  /** The reservation of a request whose real use is not known at Check time. */
  estimate: z
    .strictObject({
      inputTokens: z.number().int().min(0).max(1e9).default(1000),
      outputTokens: z.number().int().min(0).max(1e9).default(1000),
      costUsd: usd.default(10_000),
    })
    .prefault({}),
  reservations: z
    .strictObject({
      /** How long a reservation waits for its usage record. */
      timeout: duration.default(10 * 60_000),
      /** Then: keep the estimate charged (fail closed), or give it back. */
      onTimeout: z.enum(['charge', 'release']).default('charge'),
    })
    .prefault({}),
  rules: z.array(limitRuleSchema).default([]),
});

export type LimitsConfig = z.output<typeof limitsSchema>;
export type LimitRuleConfig = LimitsConfig['rules'][number];
export type RedisConfig = z.output<typeof redis>;

interface Referenced {
  readonly trust: Record<string, unknown>;
  readonly teams: Record<string, unknown>;
  readonly destinations: Record<string, unknown>;
  readonly issuers: ReadonlyArray<{ readonly kind: string }>;
  readonly limits?: LimitsConfig | undefined;
}

/** What the limits name must exist elsewhere in the configuration. */
export function checkLimitReferences(config: Referenced, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  config.limits?.rules.forEach((rule, index) => {
    const at = (...path: PropertyKey[]) => ['limits', 'rules', index, ...path];
    if (seen.has(rule.id)) ctx.addIssue({ code: 'custom', path: at('id'), message: `limit id "${rule.id}" is used twice` });
    seen.add(rule.id);
    rule.identities?.forEach((pattern, i) => requireTrustDomain(config.trust, pattern, at('identities', i), ctx));
    rule.teams?.forEach((team, i) => {
      if (!(team in config.teams))
        ctx.addIssue({ code: 'custom', path: at('teams', i), message: `unknown team "${team}"; configured under "teams": ${Object.keys(config.teams).join(', ') || 'none'}` });
    });
    rule.destinations?.forEach((destination, i) => {
      if (!(destination in config.destinations)) ctx.addIssue({ code: 'custom', path: at('destinations', i), message: `unknown destination "${destination}"` });
    });
    if ((rule.groups || rule.per === 'person') && !config.issuers.some((i) => i.kind === 'person')) {
      ctx.addIssue({ code: 'custom', path: at(rule.groups ? 'groups' : 'per'), message: 'limits by person need an issuer of kind "person"' });
    }
  });
}
