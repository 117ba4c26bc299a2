/**
 * The ceiling for a Check that must verify a token: jose.jwtVerify alone, on the token
 * the bench sends, with the bench's concurrency, for a bounded time. Prints verifications/s.
 *
 *   node bench/jose-alone.ts BUNDLE.jwks TOKEN_FILE SECONDS CONCURRENCY
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';

const [bundleFile, tokenFile, secondsText, concurrencyText] = process.argv.slice(2);
if (!bundleFile || !tokenFile) throw new Error('usage: node bench/jose-alone.ts BUNDLE TOKEN_FILE SECONDS CONCURRENCY');
const keySet = createLocalJWKSet(JSON.parse(readFileSync(bundleFile, 'utf8')) as JSONWebKeySet);
const token = readFileSync(tokenFile, 'utf8').trim();
const until = performance.now() + Number(secondsText ?? 5) * 1000;
let count = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: Number(concurrencyText ?? 64) }, async () => {
    while (performance.now() < until) {
      await jwtVerify(token, keySet, { audience: 'keybroker', algorithms: ['ES256'] });
      count++;
    }
  }),
);
console.log(JSON.stringify({ rps: (count / (performance.now() - started)) * 1000 }));
