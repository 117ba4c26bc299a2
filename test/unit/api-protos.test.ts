/**
 * keybroker's own API (proto/): buf lint passes with the STANDARD rules, buf breaking
 * refuses a renumbered field, and the TypeScript types generated from it are current.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT } from '../helpers/process.ts';
import { BUF } from '../helpers/proto-descriptors.ts';

const ADMIN_PROTO = 'proto/keybroker/admin/v1/admin.proto';

function buf(args: string[], cwd = ROOT) {
  return spawnSync(BUF, args, { cwd, encoding: 'utf8', timeout: 30_000 });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe("keybroker's API protos", function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'kb-api-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('pass buf lint (STANDARD)', () => {
    const result = buf(['lint']);
    expect(result.stdout + result.stderr).to.equal('');
    expect(result.status).to.equal(0);
  });

  it('buf breaking refuses a changed field number', () => {
    for (const side of ['before', 'after']) {
      for (const path of ['buf.yaml', 'proto', 'third_party']) cpSync(join(ROOT, path), join(dir, side, path), { recursive: true });
    }
    const unchanged = buf(['breaking', '--against', join(dir, 'before')], join(dir, 'after'));
    expect(unchanged.status, unchanged.stdout + unchanged.stderr).to.equal(0);

    const edited = join(dir, 'after', ADMIN_PROTO);
    const text = readFileSync(edited, 'utf8');
    const renumbered = text.replace(/(message ExplainRequest \{[^}]*string destination = )2;/, '$112;');
    expect(renumbered).to.not.equal(text);
    writeFileSync(edited, renumbered);
    const broken = buf(['breaking', '--against', join(dir, 'before')], join(dir, 'after'));
    expect(broken.status).to.not.equal(0);
    expect(broken.stdout).to.include('field "2" with name "destination" on message "ExplainRequest"');
  });

  it('have their generated TypeScript types checked in and current (npm run api:types)', () => {
    const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['api:types']!;
    const args = script
      .split(' ')
      .slice(1)
      .map((a) => (a === 'src/api/generated' ? dir : a));
    const result = spawnSync(join(ROOT, 'node_modules/.bin/proto-loader-gen-types'), args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(result.status, result.stderr).to.equal(0);
    const checkedIn = join(ROOT, 'src/api/generated');
    const generated = filesUnder(dir);
    expect(filesUnder(checkedIn).filter((f) => f.endsWith('.ts'))).to.deep.equal(generated);
    for (const file of generated) expect(readFileSync(join(checkedIn, file), 'utf8'), file).to.equal(readFileSync(join(dir, file), 'utf8'));
  });
});
