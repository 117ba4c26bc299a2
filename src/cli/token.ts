/**
 * `keybroker token`: mints a JWT-SVID with a local signing key (the demo's, by default)
 * so that a walk-through can send an SDK-shaped request. Not for production: real
 * JWT-SVIDs come from SPIRE's Workload API.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { importJWK, SignJWT, type JWK } from 'jose';
import { parseSpiffeId } from '../identity/spiffe-id.ts';
import { parseDuration } from '../config/duration.ts';
import { loadConfigFile } from '../config/load.ts';
import { didYouMean } from '../lib/suggest.ts';
import { EXIT, parseOptions, required, UsageError, type Command } from './command.ts';
import { DEMO_CONFIG, DEMO_SIGNING_KEY } from './demo-paths.ts';

export interface TokenRequest {
  readonly identity: string;
  readonly keyFile: string;
  readonly audience: string;
  /** Lifetime in ms. */
  readonly ttlMs: number;
}

export interface MintedToken {
  readonly token: string;
  readonly identity: string;
  readonly audience: string;
  readonly kid: string;
  readonly expiresAt: string;
}

export async function mintToken(request: TokenRequest): Promise<MintedToken> {
  const id = parseSpiffeId(request.identity);
  let jwk: JWK;
  try {
    jwk = JSON.parse(readFileSync(request.keyFile, 'utf8')) as JWK;
  } catch (error) {
    throw new UsageError(`cannot read the signing key ${request.keyFile}: ${(error as Error).message}`);
  }
  if (typeof jwk.kid !== 'string' || typeof jwk.alg !== 'string') throw new UsageError(`${request.keyFile} must be a private JWK with "kid" and "alg"`);
  const key = await importJWK(jwk, jwk.alg);
  const now = Math.floor(Date.now() / 1000);
  const exp = now + Math.floor(request.ttlMs / 1000);
  const token = await new SignJWT({}).setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: 'JWT' }).setSubject(id.id).setAudience(request.audience).setIssuedAt(now).setExpirationTime(exp).sign(key);
  return { token, identity: id.id, audience: request.audience, kid: jwk.kid, expiresAt: new Date(exp * 1000).toISOString() };
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export const tokenCommand: Command = {
  name: 'token',
  summary: "mint a JWT-SVID with a local signing key (the demo's by default), for trying things out",
  help: `usage: keybroker token --identity SPIFFE_ID [--ttl 5m] [--audience AUD] [-c FILE] [--key FILE] [--json]

Mints a JWT-SVID for SPIFFE_ID, signed with a local private JWK, and prints it (and
nothing else) on stdout: an SDK takes it as its "API key". The demo's signing key ships in
examples/demo-jwt/ and is DEMO ONLY. Real JWT-SVIDs come from SPIRE's Workload API.

The token is checked against the configuration that will verify it: the identity's trust
domain must be configured, the audience must be one it accepts, and --ttl must not exceed
its maxTokenLifetime (keybroker would deny such a token with lifetime_too_long), so a
token this command prints is one keybroker can accept.

options:
  --identity SPIFFE_ID   the token's subject
  --ttl DURATION         lifetime, e.g. 30s, 5m (default 5m)
  --audience AUD         default: the trust domain's first audience
  -c, --config FILE      the configuration that will verify it (default: the demo's,
                         examples/keybroker.yaml)
  --key FILE             the private JWK (default: the demo's); a relative path is
                         relative to the -c file's directory, or to the current
                         directory when -c is not given
  --json                 {"token","identity","audience","kid","expiresAt"}
  -h, --help             this text

exit codes: 0 minted, 2 usage (including a TTL or audience the configuration refuses),
4 identity in a trust domain the configuration does not know, 1 configuration error`,
  async run(args, io) {
    const values = parseOptions(args, {
      identity: { type: 'string' },
      ttl: { type: 'string', default: '5m' },
      audience: { type: 'string' },
      config: { type: 'string', short: 'c' },
      key: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    required(values, 'identity');
    const ttl = values.ttl ?? '5m';
    const ttlMs = parseDuration(ttl);
    if (ttlMs === undefined || ttlMs < 1000) throw new UsageError(`--ttl "${ttl}" is not a duration of at least 1s, such as 30s or 5m`);
    let id: ReturnType<typeof parseSpiffeId>;
    try {
      id = parseSpiffeId(values.identity);
    } catch (error) {
      throw new UsageError(`--identity: ${(error as Error).message}`);
    }

    const configFile = values.config ?? DEMO_CONFIG;
    const { config } = loadConfigFile(configFile);
    const trustDomain = config.trust[id.trustDomain];
    if (!trustDomain) {
      const known = Object.keys(config.trust);
      io.err(`keybroker token: trust domain "${id.trustDomain}" is not configured in ${configFile}${didYouMean(id.trustDomain, known)} (configured: ${known.join(', ')})`);
      return EXIT.unknown;
    }
    if (!trustDomain.bundle) io.err(`keybroker token: warning: trust domain "${id.trustDomain}" has no JWT bundle in ${configFile}: keybroker accepts only mTLS from it`);
    const audiences = trustDomain.audiences ?? [];
    const audience = values.audience ?? audiences[0] ?? 'keybroker';
    if (audiences.length > 0 && !audiences.includes(audience)) {
      throw new UsageError(`--audience "${audience}" is not accepted by trust domain "${id.trustDomain}" (audiences: ${audiences.join(', ')}); keybroker would deny it with audience_mismatch`);
    }
    if (ttlMs > trustDomain.maxTokenLifetime) {
      throw new UsageError(
        `--ttl ${ttl} exceeds maxTokenLifetime ${formatMs(trustDomain.maxTokenLifetime)} of trust domain "${id.trustDomain}" in ${configFile}; keybroker would deny the token with lifetime_too_long. Use --ttl ${formatMs(trustDomain.maxTokenLifetime)} or less`,
      );
    }
    const keyFile = values.key === undefined ? DEMO_SIGNING_KEY : resolve(values.config ? dirname(resolve(values.config)) : process.cwd(), values.key);
    const minted = await mintToken({ identity: id.id, keyFile, audience, ttlMs });
    // The token is this command's output: it goes to stdout and nowhere else.
    io.out(values.json ? JSON.stringify(minted) : minted.token);
    return EXIT.ok;
  },
};
