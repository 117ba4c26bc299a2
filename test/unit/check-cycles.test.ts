/** The import-cycle check CI runs: it passes on src/ and catches a cycle when there is one. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/process.ts';

const check = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'scripts/check-cycles.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

describe('scripts/check-cycles.ts', () => {
  it('finds no import cycle in src/', () => {
    const result = check('src');
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/\d+ modules under src, 0 import cycle/);
  });

  it('names the modules of a cycle and fails; a type-only cycle only with --types', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-cycles-'));
    try {
      writeFileSync(join(dir, 'a.ts'), "import { b } from './b.ts';\nexport const a = () => b;\n");
      writeFileSync(join(dir, 'b.ts'), "import { c } from './c.ts';\nexport const b = c;\n");
      writeFileSync(join(dir, 'c.ts'), "import { a } from './a.ts';\nimport type { T } from './d.ts';\nexport const c = a;\n");
      writeFileSync(join(dir, 'd.ts'), "import type { c } from './c.ts';\nexport type T = typeof c;\n");
      const result = check(dir);
      expect(result.status).to.equal(1);
      expect(result.stderr).to.match(/import cycle: .*a\.ts ↔ .*b\.ts ↔ .*c\.ts\n/);
      expect(result.stderr).to.not.include('d.ts');
      expect(check('--types', dir).stderr).to.include('d.ts');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
