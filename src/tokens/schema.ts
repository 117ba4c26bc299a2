/**
 * `gatewayTokens:` — keybroker issuing its own short-lived tokens (RFC 8693 exchange) to
 * agents that hold an X.509-SVID or a Kubernetes service-account token but no JWT-SVID.
 */
import { z } from 'zod';
import { duration } from '../config/duration-schema.ts';

/** The longest a gateway token may live: short enough that a stolen one is soon useless. */
export const MAX_GATEWAY_TOKEN_TTL_MS = 15 * 60_000;

const nonEmpty = z.string().min(1, 'must not be empty');

export const gatewayTokensSchema = z.strictObject({
  /**
   * Where agents exchange: a Unix socket, loopback, or TCP with tls. With tls.clientCa a
   * client certificate is requested (not required): an agent that presents an X.509-SVID
   * from that CA may exchange it, and gets a token bound to that certificate.
   */
  listen: z.union([nonEmpty, z.strictObject({ address: nonEmpty, tls: z.strictObject({ cert: nonEmpty, key: nonEmpty, clientCa: nonEmpty.optional() }).optional() })]),
  /** A key store reference whose value is the private signing key, a JWK (EC P-256, ES256) as JSON. */
  signingKey: nonEmpty,
  issuer: nonEmpty.default('keybroker'),
  audience: nonEmpty.default('keybroker'),
  ttl: duration.default(600_000).refine((ms) => ms > 0 && ms <= MAX_GATEWAY_TOKEN_TTL_MS, `must be at most ${MAX_GATEWAY_TOKEN_TTL_MS / 60_000}m`),
  /** Replicas share one issuer, so clocks differ little: a token is refused this soon after exp. */
  clockSkew: duration.default(5_000),
  /** How often the signing key is re-read from the key store, so a rotation takes effect. */
  rotationCheck: duration.default(30_000),
});

export type GatewayTokensConfig = z.output<typeof gatewayTokensSchema>;
