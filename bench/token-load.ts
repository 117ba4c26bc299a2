/**
 * Load with a distinct JWT-SVID on every call (every Check is a cache miss), from a
 * separate process; and, first, the rate of jose.jwtVerify alone on the same tokens.
 * Prints one JSON line.
 *
 *   node bench/token-load.ts ADDRESS SIGNING_KEY.jwk COUNT CONCURRENCY
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { credentials, Metadata } from '@grpc/grpc-js';
import { createLocalJWKSet, exportJWK, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { createPublicKey } from 'node:crypto';
import { authorizationClientConstructor } from '../src/envoy/proto.ts';
import { percentiles } from './stats.ts';

const [address, keyFile, countText, concurrencyText] = process.argv.slice(2);
if (!address || !keyFile) throw new Error('usage: node bench/token-load.ts ADDRESS KEY COUNT CONCURRENCY');
const count = Number(countText ?? 5000);
const concurrency = Number(concurrencyText ?? 32);

const jwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK & { kid: string; alg: string };
const key = await importJWK(jwk, jwk.alg);
const now = Math.floor(Date.now() / 1000);
const tokens: string[] = [];
for (let i = 0; i < count; i++) {
  tokens.push(
    await new SignJWT({ jti: String(i) })
      .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: 'JWT' })
      .setSubject('spiffe://bench.local/agent/research')
      .setAudience('keybroker')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(key),
  );
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
  return performance.now() - started;
}

// jose alone: the same verification keybroker does, minus everything else.
const { d: _d, ...publicJwk } = jwk;
const publicKey = createPublicKey({ key: publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
const keySet = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: jwk.kid, alg: jwk.alg }] });
const joseMs = await pool(tokens, concurrency, async (token) => {
  await jwtVerify(token, keySet, { audience: 'keybroker', algorithms: [jwk.alg] });
});

const Client = authorizationClientConstructor();
const client = new Client(address, credentials.createInsecure()) as unknown as {
  Check(r: object, m: Metadata, cb: (e: Error | null, r: { status: { code: number } }) => void): void;
  close(): void;
};
const request = (token: string) => ({
  attributes: {
    request: { http: { method: 'POST', path: '/openai/v1/chat/completions', host: 'gateway.local', headers: { ':method': 'POST', ':path': '/openai/v1/chat/completions', ':authority': 'gateway.local', authorization: `Bearer ${token}`, 'x-request-id': 'bench' } } },
    context_extensions: { destination: 'openai' },
  },
});
const latencies: number[] = [];
let failures = 0;
const loadMs = await pool(tokens, concurrency, (token) =>
  new Promise<void>((resolve) => {
    const t0 = performance.now();
    client.Check(request(token), new Metadata(), (error, response) => {
      latencies.push((performance.now() - t0) * 1000);
      if (error || response.status.code !== 0) failures++;
      resolve();
    });
  }),
);
client.close();
console.log(JSON.stringify({ count, joseRps: (count / joseMs) * 1000, rps: (count / loadMs) * 1000, failures, ...percentiles(latencies) }));
