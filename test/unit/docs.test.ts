/** The documentation a person acts on stays complete and inside the repository. */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REASONS } from '../../src/lib/denial.ts';
import { ROOT } from '../helpers/process.ts';

describe('docs', () => {
  it('docs/troubleshooting.md explains every denial reason code', () => {
    const text = readFileSync(join(ROOT, 'docs/troubleshooting.md'), 'utf8');
    const missing = Object.keys(REASONS).filter((code) => !new RegExp(`^### \`${code}\``, 'm').test(text));
    expect(missing, 'add a "### `code`" section (what it means, what to check) to docs/troubleshooting.md').to.deep.equal([]);
  });

  it('no markdown file links outside the repository or to a file that does not exist', () => {
    const files = ['README.md', 'SECURITY.md', 'CONTRIBUTING.md', 'CHANGELOG.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));
    const broken: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const resolved = join(ROOT, file, '..', target!);
        if (!resolved.startsWith(ROOT) || target!.includes('shared/')) broken.push(`${file}: ${target} (outside the repository)`);
        else {
          try {
            readFileSync(resolved);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EISDIR') broken.push(`${file}: ${target}`);
          }
        }
      }
    }
    expect(broken).to.deep.equal([]);
  });
});
