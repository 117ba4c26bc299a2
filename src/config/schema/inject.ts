/**
 * The `inject:` and `key:` parts of a destination (and a grant's `key:`): how a key is put
 * on the upstream request, and which key. Shapes and their meaning: credentials/templates.ts.
 */
import { z } from 'zod';
import { QUERY_SAFE, TEMPLATE_NAMES, type InjectSpec } from '../../credentials/templates.ts';
import { hasPlaceholder, isTemplateProblem, parseTemplate } from '../../credentials/template.ts';
import { KEY_REF } from '../../credentials/key-ref.ts';
import { isLoopback } from '../../lib/loopback.ts';
import { parseDuration } from '../duration.ts';

export const keyRef = z.string().regex(KEY_REF, 'expected a key reference such as "openai/prod", "openai/prod@7" (a Vault version), "stripe/prod#secret_key" (a field) or "openai/{team}" (per team)');

/** Header names keybroker must not set: they decide routing, framing or Envoy's own behaviour. */
const RESERVED_HEADER = /^(host|content-length|transfer-encoding|connection|te|upgrade|keep-alive|x-request-id|x-envoy-.*)$/;

const headerName = z
  .string()
  .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'expected a lowercase HTTP header name')
  .refine((name) => !RESERVED_HEADER.test(name), 'this header decides routing or framing; keybroker does not set it');

const template = (needsKey: boolean) =>
  z.string().superRefine((text, ctx) => {
    const parsed = parseTemplate(text);
    if (isTemplateProblem(parsed)) ctx.addIssue({ code: 'custom', message: parsed.problem });
    else if (needsKey && !hasPlaceholder(parsed)) ctx.addIssue({ code: 'custom', message: 'must contain ${key} or ${key.<field>}' });
  });

/** Literal text around the key: no placeholder of its own. */
const affix = z
  .string()
  .regex(/^[\x20-\x7e]*$/, 'may contain only printable ASCII characters and spaces')
  .refine((t) => !t.includes('${'), 'is literal text: the key goes between prefix and suffix');

// What Envoy takes unencoded in a query string (see QUERY_SAFE in credentials/templates.ts).
const queryName = z.string().regex(/^[A-Za-z0-9*._-]{1,128}$/, 'expected a query parameter name of letters, digits, "*", ".", "_" and "-"');
const queryValue = template(true).refine(
  (t) => QUERY_SAFE.test(t.replace(/\$\{[^}]*\}/g, '')),
  'may contain, besides ${key}, only letters, digits, "*", ".", "_" and "-": Envoy refuses anything else in a query parameter',
);

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as "5s", got "${text}"` });
    return z.NEVER;
  }
  return ms;
});

const tokenUrl = z.url({ protocol: /^https?$/ }).refine((address) => {
  const url = new URL(address);
  return url.protocol === 'https:' || isLoopback(url.hostname.replace(/^\[|\]$/g, ''));
}, 'the token endpoint must be reached over https (plain http only on loopback): the client secret travels with every request');

const oauth2 = z
  .strictObject({
    tokenUrl,
    clientId: z.string().regex(/^[\x21-\x7e]{1,256}$/, 'expected a client id of printable ASCII characters'),
    /** The client secret's key reference; default: the destination's `key`. */
    clientSecret: keyRef.optional(),
    auth: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).default('client_secret_basic'),
    assertionAudience: z
      .string()
      .regex(/^[\x21-\x7e]{1,512}$/)
      .optional(),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'expected an OAuth2 scope token (RFC 6749 §3.3)')).default([]),
    audience: z
      .string()
      .regex(/^[\x21-\x7e]{1,512}$/)
      .optional(),
    ca: z.string().min(1).optional(),
    timeout: duration.default(5000),
  })
  .refine((o) => o.assertionAudience === undefined || o.auth === 'private_key_jwt', { message: 'assertionAudience is for auth: private_key_jwt', path: ['assertionAudience'] });

const shapes = {
  bearer: z.strictObject({ bearer: template(true) }),
  header: z
    .strictObject({ header: headerName, value: template(true).optional(), prefix: affix.optional(), suffix: affix.optional() })
    .refine((s) => s.value === undefined || (s.prefix === undefined && s.suffix === undefined), 'give either value (with ${key} in it) or prefix/suffix, not both'),
  headers: z
    .strictObject({ headers: z.record(headerName, template(false)).refine((h) => Object.keys(h).length > 0, 'name at least one header') })
    .refine((s) => Object.values(s.headers).some((t) => t.includes('${key')), 'at least one header must carry ${key} or ${key.<field>}'),
  basic: z
    .strictObject({ basic: z.strictObject({ username: template(false), password: template(false) }) })
    .refine((s) => `${s.basic.username}${s.basic.password}`.includes('${key'), 'username or password must carry ${key} or ${key.<field>}'),
  query: z.strictObject({ query: z.union([queryName, z.strictObject({ name: queryName, value: queryValue })]) }),
  oauth2: z.strictObject({ oauth2 }),
} as const;

const SHAPE_NAMES = Object.keys(shapes) as Array<keyof typeof shapes>;

/**
 * One shape, chosen by its key, so that an error speaks about that shape (a plain union
 * would say only "Invalid input").
 */
export const injection = z.unknown().transform((value, ctx): InjectSpec => {
  if (typeof value === 'string') {
    const name = TEMPLATE_NAMES.find((n) => n === value);
    if (name) return name;
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const named = SHAPE_NAMES.filter((shape) => shape in value);
    if (named.length === 1) {
      const parsed = shapes[named[0]!].safeParse(value);
      if (parsed.success) return parsed.data as InjectSpec;
      for (const issue of parsed.error.issues)
        ctx.addIssue({
          code: 'custom',
          path: issue.path,
          message: issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')} for inject.${named[0]}` : issue.message,
        });
      return z.NEVER;
    }
  }
  ctx.addIssue({ code: 'custom', message: `expected one of ${TEMPLATE_NAMES.join(', ')}, or an object with one of ${SHAPE_NAMES.join(', ')}` });
  return z.NEVER;
});
