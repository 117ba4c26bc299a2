import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REASONS } from '../../src/lib/denial.ts';
import { ROOT } from '../helpers/process.ts';

describe('denial reasons', () => {
  // The documented table is the contract agents and dashboards rely on: every reason's
  // status is stated there, and the code must agree with it, reason by reason.
  const documented = new Map([...readFileSync(join(ROOT, 'docs/denials.md'), 'utf8').matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]));

  it('documents every reason, and only those', () => {
    expect([...documented.keys()].sort()).to.deep.equal(Object.keys(REASONS).sort());
  });

  for (const [reason, { status }] of Object.entries(REASONS)) {
    it(`${reason} answers ${documented.get(reason)} as documented`, () => expect(status).to.equal(documented.get(reason)));
  }
});
