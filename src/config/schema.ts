/**
 * The configuration file's schema. Every object is strict: an unknown key is an error,
 * because a misspelt restriction silently ignored would widen access.
 */
import { z } from 'zod';
import { didYouMean } from '../lib/suggest.ts';
import { checkTrustDomain, parseSpiffeId } from '../identity/spiffe-id.ts';
import { duration } from './duration-schema.ts';
import { gatewayTokensSchema } from '../tokens/schema.ts';
import { nonEmpty, requireTrustDomain, spiffeIdPattern } from './fields.ts';
import { checkLimitReferences, limitsSchema } from '../limit/schema.ts';
import { isLoopback } from '../lib/loopback.ts';
import { bodyConditions, checkBodyConditions, destinationApi } from './schema/body-conditions.ts';
import { injection, keyRef } from './schema/inject.ts';
import { METHOD_OVERRIDE_HEADERS } from '../credentials/strip.ts';
import { checkPriceReferences, pricesSchema } from '../usage/prices-schema.ts';

/** RFC 7230 token: what an HTTP header name may be, lowercased as Envoy presents them. */
const headerName = z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'expected a lowercase HTTP header name');

const hostName = z.string().regex(/^[a-z0-9.-]+(:\d{1,5})?$/, 'expected a lowercase host name, optionally with ":port"');

const trustDomainName = z.string().superRefine((name, ctx) => {
  try {
    checkTrustDomain(name);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

const pathPattern = z.string().regex(/^\/[^?#*]*\*?$/, 'expected an absolute path ("/v1/models") or a prefix ending in "*" ("/v1/*"), without query');

const method = z.string().regex(/^([A-Z]+|\*)$/, 'expected an upper-case HTTP method such as "POST", or "*" for any');

const tlsServer = z.strictObject({
  cert: nonEmpty,
  key: nonEmpty,
  clientCa: nonEmpty,
  allowedCallers: z.array(spiffeIdPattern).min(1, "name at least one caller SPIFFE ID (Envoy's)"),
});

const listen = z.union([nonEmpty, z.strictObject({ address: nonEmpty, tls: tlsServer.optional() })]);

const bundleFormat = z.enum(['jwks', 'spiffe']).default('jwks');

/** A JWKS or SPIFFE bundle: a file (watched), or a URL (refreshed; `ca` to verify its TLS). */
const bundleSource = z.union([
  z.strictObject({ file: nonEmpty, format: bundleFormat }),
  z.strictObject({ url: z.url({ protocol: /^https?$/ }), format: bundleFormat, refresh: duration.optional(), ca: nonEmpty.optional(), spiffeId: z.string().optional() }).superRefine((b, ctx) => {
    if (b.spiffeId === undefined) return;
    try {
      parseSpiffeId(b.spiffeId);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['spiffeId'], message: (error as Error).message });
    }
    if (!b.ca) ctx.addIssue({ code: 'custom', path: ['ca'], message: "the https_spiffe profile (spiffeId) needs the trust domain's X.509 bundle as ca to start from" });
    if (b.format !== 'spiffe') ctx.addIssue({ code: 'custom', path: ['format'], message: 'a SPIFFE bundle endpoint serves format: spiffe' });
  }),
]);

const trustDomain = z
  .strictObject({
    /** The trust domain's JWT-SVID signing keys; without it, only X.509-SVIDs (mTLS) are accepted. */
    bundle: bundleSource.optional(),
    audiences: z.array(nonEmpty).min(1).optional(),
    maxTokenLifetime: duration.default(15 * 60_000),
    clockSkew: duration.default(30_000),
  })
  .refine((t) => !t.bundle || t.audiences, { message: 'a trust domain with a JWT bundle must list its audiences (what JWT-SVIDs must be issued for)', path: ['audiences'] });

const issuerUrl = z.string().regex(/^https:\/\/[^\s]+$/, 'expected the issuer URL exactly as in its tokens\' "iss", e.g. https://kubernetes.default.svc');

const issuer = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('kubernetes'),
    name: nonEmpty,
    issuer: issuerUrl,
    jwks: bundleSource,
    audiences: z.array(nonEmpty).min(1),
    trustDomain: nonEmpty,
    /** How a service account becomes a SPIFFE ID; `{namespace}` and `{serviceaccount}` are filled in. */
    identity: z.string().optional(),
    maxTokenLifetime: duration.default(60 * 60_000),
    clockSkew: duration.default(30_000),
  }),
  z.strictObject({
    kind: z.literal('person'),
    name: nonEmpty,
    issuer: issuerUrl,
    jwks: bundleSource,
    audiences: z.array(nonEmpty).min(1),
    header: headerName.default('x-user-token'),
    groupsClaim: nonEmpty.default('groups'),
    /** Sign-in tokens live longer than workload tokens; a future `iat` still cannot stretch this. */
    maxTokenLifetime: duration.default(24 * 60 * 60_000),
    clockSkew: duration.default(30_000),
  }),
]);

const tokens = z.strictObject({
  /** Where identity tokens are looked for; SDKs put their key in these. */
  headers: z.array(headerName).min(1).default(['authorization', 'x-api-key', 'api-key']),
  cacheEntries: z.number().int().min(0).max(1_000_000).default(10_000),
  /** Least time between bundle refreshes triggered by an unknown kid. */
  minBundleRefresh: duration.default(10_000),
  /** The whole of one bundle or JWKS fetch (trust domains and issuers), not only an idle socket. */
  fetchTimeout: duration.default(5000),
});

const vaultAddress = z.url({ protocol: /^https?$/ }).refine((address) => {
  const url = new URL(address);
  return url.protocol === 'https:' || isLoopback(url.hostname.replace(/^\[|\]$/g, ''));
}, 'Vault must be reached over https (plain http only on loopback): the Vault token travels with every request');

const vaultAuth = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('token'), tokenFile: nonEmpty.optional() }),
  z.strictObject({ method: z.literal('approle'), roleIdFile: nonEmpty, secretIdFile: nonEmpty, mount: nonEmpty.default('approle') }),
  z.strictObject({
    method: z.literal('kubernetes'),
    role: nonEmpty,
    tokenFile: nonEmpty.default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
    mount: nonEmpty.default('kubernetes'),
  }),
]);

const keys = z.discriminatedUnion('store', [
  z.strictObject({ store: z.literal('file'), file: nonEmpty }),
  z.strictObject({
    store: z.literal('env'),
    prefix: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .default('KEYBROKER_KEY_'),
  }),
  z.strictObject({
    store: z.literal('vault'),
    address: vaultAddress,
    /** The KV v2 mount. */
    mount: nonEmpty.default('secret'),
    /** The field of the secret that holds the key. */
    field: nonEmpty.default('value'),
    namespace: nonEmpty.optional(),
    caFile: nonEmpty.optional(),
    auth: vaultAuth,
    refreshInterval: duration.default(30_000),
    maxStaleness: duration.default(10 * 60_000),
    timeout: duration.default(5000),
  }),
]);

const destination = z.strictObject({
  upstream: hostName,
  /** Extra `:authority` values the agent may use for this destination (the gateway's own host). */
  authorities: z.array(hostName).optional(),
  /** The path prefix the Envoy route matches and strips; policy paths are relative to what remains. */
  routePrefix: z
    .string()
    .regex(/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/, 'expected a path prefix such as "/openai"')
    .optional(),
  inject: injection,
  key: keyRef,
  classification: z.enum(['public', 'internal', 'confidential', 'restricted']).default('confidential'),
  api: destinationApi,
});

const rule = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected a rule id of letters, digits, ".", "-" and "_"'),
  effect: z.enum(['allow', 'deny']).default('allow'),
  identities: z.array(spiffeIdPattern).min(1),
  destinations: z.array(nonEmpty).min(1),
  methods: z.array(method).min(1).optional(),
  paths: z.array(pathPattern).min(1).optional(),
  /** The key this grant's callers get, instead of the destination's (credentials/obtain.ts). */
  key: keyRef.optional(),
  /** Require a verified natural person, optionally in one of these groups. */
  person: z.strictObject({ required: z.literal(true), groups: z.array(nonEmpty).min(1).optional() }).optional(),
  ...bodyConditions,
  /** `shadow`: evaluated on every Check and recorded when it would change the answer, never enforced. */
  mode: z.enum(['enforce', 'shadow']).default('enforce'),
});

const loopbackHost = z.string().refine((h) => isLoopback(h), 'the metrics endpoint serves on loopback only (127.0.0.1, ::1 or localhost)');

const telemetry = z.strictObject({
  serviceName: nonEmpty.optional(),
  resourceAttributes: z.record(z.string(), z.string()).optional(),
  traces: z
    .strictObject({
      /** Default: OTLP when OTEL_TRACES_EXPORTER=otlp or an OTEL_EXPORTER_OTLP_*ENDPOINT is set, else none. */
      exporter: z.enum(['otlp', 'none']).optional(),
      protocol: z.enum(['grpc', 'http/protobuf']).optional(),
      endpoint: z.url({ protocol: /^https?$/ }).optional(),
      queueSize: z.number().int().min(1).max(1_000_000).default(8192),
      batchSize: z.number().int().min(1).max(100_000).default(512),
      flushInterval: duration.default(1000),
      exportTimeout: duration.default(10_000),
    })
    .prefault({}),
  metrics: z.strictObject({ prometheus: z.strictObject({ host: loopbackHost.default('127.0.0.1'), port: z.number().int().min(0).max(65535) }).optional() }).prefault({}),
});

/** How a replica leaves: SIGTERM reports NOT_SERVING, keeps serving `drainDelay` so load
 * balancers (Envoy's health checks, Kubernetes endpoints) stop sending, then stops
 * accepting and lets in-flight Checks finish for up to `grace`. */
const shutdown = z.strictObject({
  drainDelay: duration.default(3000),
  grace: duration.default(10_000),
});

const log = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  decisions: z.boolean().default(true),
});

export const configSchema = z
  .strictObject({
    listen: listen.default('127.0.0.1:9191'),
    /** keybroker's admin API (src/admin/): a Unix socket, or mTLS with admin SPIFFE IDs. */
    admin: z.strictObject({ listen }).optional(),
    /** Gateway tokens for agents without SPIRE (src/tokens/, docs/gateway-tokens.md). */
    gatewayTokens: gatewayTokensSchema.optional(),
    trust: z.record(trustDomainName, trustDomain).refine((t) => Object.keys(t).length > 0, 'configure at least one trust domain'),
    tokens: tokens.default({ headers: ['authorization', 'x-api-key', 'api-key'], cacheEntries: 10_000, minBundleRefresh: 10_000, fetchTimeout: 5000 }),
    /** Removed from every allowed request besides agent credentials (`credentials/strip.ts`). */
    removeHeaders: z.array(headerName).default([...METHOD_OVERRIDE_HEADERS]),
    issuers: z.array(issuer).default([]),
    keys,
    destinations: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected a destination name of lowercase letters, digits, "-" and "_"'), destination),
    policy: z.array(rule).default([]),
    /** A whole policy evaluated beside the live one, never enforced (loaded from its file by load.ts). */
    policyCandidate: z.array(rule).optional(),
    /** Named sets of identities, for keys and limits chosen per team (`policy/teams.ts`). */
    teams: z.record(z.string(), z.array(spiffeIdPattern).min(1)).default({}),
    log: log.default({ level: 'info', decisions: true }),
    shutdown: shutdown.prefault({}),
    /** What keybroker tells Envoy beyond the answer: `essential` dynamic metadata (what the
     * shipped access log reads) or `full` (adds destination, rule, policy version). */
    envoy: z.strictObject({ dynamicMetadata: z.enum(['essential', 'full']).default('essential') }).prefault({}),
    telemetry: telemetry.prefault({}),
    limits: limitsSchema.optional(),
    /** USD per million tokens per destination and model, for the cost of metered calls (`usage/prices.ts`). */
    prices: pricesSchema.default([]),
  })
  .superRefine((config, ctx) => {
    config.issuers.forEach((iss, index) => {
      if (iss.kind === 'kubernetes' && !(iss.trustDomain in config.trust)) {
        ctx.addIssue({ code: 'custom', path: ['issuers', index, 'trustDomain'], message: `trust domain "${iss.trustDomain}" is not configured under "trust"` });
      }
    });
    if (config.issuers.filter((i) => i.kind === 'person').length > 1) {
      ctx.addIssue({ code: 'custom', path: ['issuers'], message: 'configure at most one person issuer' });
    }
    if (Object.keys(config.teams).length === 0) {
      for (const [name, d] of Object.entries(config.destinations))
        if (d.key.includes('{team}')) ctx.addIssue({ code: 'custom', path: ['destinations', name, 'key'], message: 'the key is chosen by {team}, but no teams: are configured' });
    }
    for (const [team, patterns] of Object.entries(config.teams)) {
      if (!/^[a-z0-9][a-z0-9_-]*$/.test(team)) ctx.addIssue({ code: 'custom', path: ['teams', team], message: 'expected a team name of lowercase letters, digits, "-" and "_"' });
      patterns.forEach((pattern, i) => requireTrustDomain(config.trust, pattern, ['teams', team, i], ctx));
    }
    checkLimitReferences(config, ctx);
    checkPriceReferences(config, ctx);
    checkRules(config, config.policy, 'policy', ctx);
    if (config.policyCandidate) checkRules(config, config.policyCandidate, 'policyCandidate', ctx);
  });

type RuleConfig = z.output<typeof rule>;

/** The checks every rule passes against the rest of the configuration: live or candidate. */
function checkRules(
  config: { trust: Record<string, unknown>; destinations: Record<string, { api?: z.output<typeof destinationApi> }>; issuers: ReadonlyArray<{ kind: string }> },
  rules: readonly RuleConfig[],
  key: string,
  ctx: z.RefinementCtx,
): void {
  rules.forEach((r, index) => {
    if (r.person && !config.issuers.some((i) => i.kind === 'person')) {
      ctx.addIssue({ code: 'custom', path: [key, index, 'person'], message: 'this rule requires a person, but no issuer of kind "person" is configured' });
    }
  });
  const seen = new Set<string>();
  rules.forEach((r, index) => {
    if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: [key, index, 'id'], message: `rule id "${r.id}" is used twice` });
    seen.add(r.id);
    if (r.key && r.effect === 'deny') ctx.addIssue({ code: 'custom', path: [key, index, 'key'], message: 'a deny rule injects nothing: key: belongs on a grant' });
    if (r.effect === 'allow') {
      if (!r.methods) ctx.addIssue({ code: 'custom', path: [key, index], message: 'an allow rule must list its methods (use ["*"] for any)' });
      if (!r.paths) ctx.addIssue({ code: 'custom', path: [key, index], message: 'an allow rule must list its paths (use ["/*"] for any)' });
    }
    r.destinations.forEach((name, i) => {
      if (!(name in config.destinations)) {
        ctx.addIssue({
          code: 'custom',
          path: [key, index, 'destinations', i],
          message: `unknown destination "${name}"${didYouMean(name, Object.keys(config.destinations))}; configured: ${Object.keys(config.destinations).join(', ') || 'none'}`,
        });
      }
    });
    checkBodyConditions(
      r,
      (name) => config.destinations[name]?.api,
      (path, message) => ctx.addIssue({ code: 'custom', path: [key, index, ...path], message }),
    );
    r.identities.forEach((pattern, i) => requireTrustDomain(config.trust, pattern, [key, index, 'identities', i], ctx));
  });
}

export type Config = z.output<typeof configSchema>;
export type DestinationConfig = Config['destinations'][string];
export type BundleSourceConfig = z.output<typeof bundleSource>;
