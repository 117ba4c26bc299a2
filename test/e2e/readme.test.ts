/**
 * The README's walk-throughs, run exactly as written. Every `$ ` line of a ```sh block is
 * a command, run in the repository with bash (one shell per block, so `export` and
 * `TOKEN=$(…)` carry over); the lines after it are its expected stdout, where `…` matches
 * anything within a line and a line of only `…` any number of lines. A block marked
 * `<!-- doctest: with-demo -->` runs while `npm run demo` is up, on free ports and a
 * temporary folder instead of 10000/10001 and .demo/ (the only substitutions made).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, spawnProcess } from '../helpers/process.ts';
import { freePort } from '../helpers/envoy.ts';

interface Step {
  readonly command: string;
  readonly expected: string[];
}
interface Block {
  readonly withDemo: boolean;
  readonly steps: Step[];
  readonly line: number;
}

function readmeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```sh') continue;
    const withDemo = lines[i - 1]?.trim() === '<!-- doctest: with-demo -->';
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    if (!body.some((l) => l.startsWith('$ '))) continue;
    const steps: Step[] = [];
    for (let j = 0; j < body.length; j++) {
      const line = body[j]!;
      if (!line.startsWith('$ ')) {
        steps.at(-1)?.expected.push(line);
        continue;
      }
      let command = line.slice(2);
      while (command.endsWith('\\') && j + 1 < body.length) command = `${command}\n${body[++j]}`;
      steps.push({ command, expected: [] });
    }
    blocks.push({ withDemo, steps, line: start });
  }
  return blocks;
}

function pattern(expected: string[]): RegExp {
  const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const body = expected.map((line) => (line === '…' ? '(?:[^\\n]*\\n)*?' : `${line.split('…').map(literal).join('[^\\n]*')}\\n`)).join('');
  return new RegExp(`^${body}$`);
}

async function runBlock(block: Block, substitute: (command: string) => string): Promise<void> {
  const marker = '@@readme-step@@';
  // The marker follows a newline, so output that does not end in one (curl's) still splits.
  const script = block.steps.map((s) => `${substitute(s.command)}\nprintf '\\n${marker}\\n'`).join('\n');
  const child = spawn('bash', ['-c', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  const outputs = out.split(`\n${marker}\n`);
  block.steps.forEach((step, i) => {
    const raw = outputs[i] ?? '';
    const actual = raw === '' || raw.endsWith('\n') ? raw : `${raw}\n`;
    expect(actual, `README.md block at line ${block.line}: \`${step.command}\`\nstderr:\n${err}`).to.match(pattern(step.expected));
  });
}

describe('the README, command by command', function () {
  this.timeout(180_000);
  const blocks = readmeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));

  it('has walk-throughs to run, one of them against the running demo', () => {
    expect(blocks.filter((b) => b.withDemo)).to.have.length.greaterThan(0);
    expect(blocks.filter((b) => !b.withDemo)).to.have.length.greaterThan(0);
  });

  for (const block of blocks.filter((b) => !b.withDemo)) {
    it(`runs the block at line ${block.line} as written`, () => runBlock(block, (c) => c));
  }

  for (const block of blocks.filter((b) => b.withDemo)) {
    it(`runs the block at line ${block.line} against \`npm run demo\``, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'keybroker-readme-'));
      const [mtls, token, admin] = [await freePort(), await freePort(), await freePort()];
      const demo = spawnProcess(process.execPath, [join(ROOT, 'scripts/demo.ts')], {
        env: { ...process.env, KEYBROKER_DEMO_DIR: join(dir, 'demo'), KEYBROKER_DEMO_PORTS: `${mtls},${token},${admin}` },
      });
      try {
        await demo.waitFor(/Running until Ctrl-C/, 120_000);
        await runBlock(block, (c) =>
          c
            .replaceAll('$PWD/.demo/', `${join(dir, 'demo')}/`)
            .replaceAll('.demo/', `${join(dir, 'demo')}/`)
            .replaceAll(':10001/', `:${token}/`)
            .replaceAll(':10000/', `:${mtls}/`),
        );
      } finally {
        demo.child.kill('SIGTERM');
        const code = await demo.exited();
        rmSync(dir, { recursive: true, force: true });
        expect(code, demo.output()).to.equal(0);
      }
    });
  }
});

describe('npm run demo --once', function () {
  this.timeout(180_000);

  it('shows the whole job: allowed with the key at the provider, denied with nothing sent, printed commands working', async () => {
    const demo = spawnProcess('npm', ['run', '-s', 'demo', '--', '--once']);
    const code = await demo.exited();
    const out = demo.output();
    expect(code, out).to.equal(0);
    expect(out).to.match(/keybroker\s+allow\s+reason: allowed\s+rule: research-agents-openai\s+key id: file:openai\/prod#([0-9a-f]{12})/);
    const keyId = /key id: file:openai\/prod#([0-9a-f]{12})/.exec(out)![1];
    expect(out).to.include(`authorization: Bearer [key, sha256 ${keyId}]`);
    expect(out).to.include("the agent's token: absent");
    expect(out).to.match(/keybroker\s+deny\s+reason: no_matching_grant/);
    expect(out).to.include('provider got     nothing');
    expect(out).to.include('the commands above answered 200, 200, 403');
    expect(out).to.match(/demo: OK\n$/);
    // Keys and tokens only by fingerprint.
    expect(out).to.not.include('NOT-A-REAL-KEY');
    expect(out).to.not.match(/eyJ[A-Za-z0-9_-]{10,}/);
    const dir = /keybroker\s+(\S+)\/authz\.sock/.exec(out)![1]!;
    expect(() => readFileSync(join(dir, 'keybroker.yaml'))).to.throw(/ENOENT/);
  });
});
