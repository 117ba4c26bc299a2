/** The benchmark runs: a very short smoke run. Its figures are reported, never asserted. */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers/process.ts';

describe('npm run bench (smoke)', function () {
  this.timeout(300_000);

  it('runs every scenario beside its baseline and prints the table', () => {
    const out = execFileSync(process.execPath, [join(ROOT, 'bench/run.ts'), '--quick'], { cwd: ROOT, encoding: 'utf8', timeout: 280_000 });
    for (const row of [
      'baseline: bare grpc-js',
      '(a) mTLS principal and SVID, allowed',
      '(b) JWT-SVID, allowed, cache warm',
      '(c) JWT-SVID, every call verified',
      '(d) denied',
      '(f) (a) with audit export on',
      '(l) (a) with a memory-store rate limit',
      '(l) (a) with a Redis-store budget',
      'jose.jwtVerify alone',
      'Envoy → baseline → provider',
      'Envoy → keybroker → provider',
    ]) {
      expect(out, row).to.include(row);
    }
    expect(out).to.match(/\| \(a\) mTLS principal and SVID, allowed +\| \d+ +\| [\d.]+ +\|/);
    expect(out).to.match(/× rps, [\d.]+× p99/);
    expect(out).to.match(/the hop adds -?[\d.]+ ms at p50/);
    expect(out).to.match(/the floor: adds -?[\d.]+ ms at p50/);
    // Metering, against the same listener without it, in alternating rounds: median (range).
    expect(out).to.match(/with ext_proc metering .*metering adds -?[\d.]+ ms \(-?[\d.]+–-?[\d.]+\) at p50.*keybroker CPU per metered response -?\d+ µs \(/);
    expect(out).to.match(/spans exported [1-9]\d*, dropped \d+/);
    expect(out).to.match(/\| \(g\) \(a\) with an OAuth2 access token, warm +\| \d+ .*token requests 1\b/);
  });
});
