/** `keybroker lint` (and the warnings `validate` prints): each finding with its code, file and line. */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { baseConfig, TEST_KEYS } from '../helpers/broker.ts';
import { runCli } from '../helpers/process.ts';
import { expectNoCanary } from '../helpers/canary.ts';

describe('keybroker lint', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-lint-'));
    writeFileSync(join(dir, 'keys.yaml'), stringify(TEST_KEYS), { mode: 0o600 });
    mkdirSync(join(dir, 'policy.d'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, content: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, stringify(content));
    return file;
  };

  it('passes the demo with no finding', () => {
    const result = runCli(['lint', '-c', 'examples/keybroker.yaml', '--json']);
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout).findings.filter((f: { code: string }) => f.code !== 'key-store-unreadable')).to.deep.equal([]);
  });

  it('finds each kind of problem, at its file and line, and exits 1 on errors', () => {
    const base = baseConfig();
    const destinations = { ...(base['destinations'] as Record<string, unknown>), unused: { upstream: 'unused.example.com', inject: 'openai', key: 'unused/key' } };
    write('policy.d/10-team.yaml', [
      { id: 'research-openai-again', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions', '/v1/embeddings'] },
      { id: 'summarizer-chat', identities: ['spiffe://example.org/ns/research/summarizer'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] },
      { id: 'quarantined-models', identities: ['spiffe://example.org/ns/research/quarantined'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models/*'] },
      { id: 'double-slash', identities: ['spiffe://example.org/ns/x/y'], destinations: ['openai'], methods: ['GET'], paths: ['/v1//models'] },
      { id: 'shadow-ignored', mode: 'shadow', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] },
    ]);
    const config = write('keybroker.yaml', { listen: `unix://${join(dir, 'authz.sock')}`, ...base, destinations, policy: { include: [...[], './base.yaml', './policy.d/*.yaml'] } });
    write('base.yaml', base['policy']);
    const result = runCli(['lint', '-c', config]);
    expect(result.code, result.stdout + result.stderr).to.equal(1);
    const lines = result.stdout.split('\n');
    const finding = (code: string) => lines.filter((l) => l.includes(` ${code}: `));
    expect(finding('grant-duplicate')).to.have.length(1);
    expect(finding('grant-duplicate')[0]).to.match(
      /policy\.d\/10-team\.yaml:1: warning grant-duplicate: rule "research-openai-again" grants exactly what rule "research-openai" \(.*base\.yaml:1\) already grants/,
    );
    expect(finding('grant-subsumed')[0]).to.match(/policy\.d\/10-team\.yaml:\d+: warning grant-subsumed: rule "summarizer-chat" grants nothing beyond what rule "research-openai"/);
    expect(finding('grant-covered-by-deny')[0]).to.match(
      /10-team\.yaml:\d+: warning grant-covered-by-deny: rule "quarantined-models" can never allow: deny rule "block-quarantined" \(.*base\.yaml:\d+\)/,
    );
    expect(finding('path-undeliverable')[0]).to.match(/10-team\.yaml:\d+: error path-undeliverable: rule "double-slash": path "\/v1\/\/models"/);
    expect(finding('destination-unreached')[0]).to.match(/keybroker\.yaml:\d+: warning destination-unreached: destination "unused"/);
    const missing = finding('key-missing');
    expect(missing.map((l) => /key "([^"]+)"/.exec(l)?.[1])).to.deep.equal(['tools/search', 'unused/key']);
    expect(lines.filter((l) => l.includes('shadow-ignored'))).to.deep.equal([]);
    expect(result.stdout).to.match(/^3 errors, 4 warnings$/m);
    expectNoCanary(result.stdout + result.stderr, 'lint output');

    const json = JSON.parse(runCli(['lint', '-c', config, '--json']).stdout) as { findings: Array<{ code: string; severity: string; file: string; line: number }> };
    expect(json.findings.map((f) => f.code).sort()).to.deep.equal([
      'destination-unreached',
      'grant-covered-by-deny',
      'grant-duplicate',
      'grant-subsumed',
      'key-missing',
      'key-missing',
      'path-undeliverable',
    ]);
    expect(json.findings.every((f) => typeof f.line === 'number' && f.file.length > 0)).to.equal(true);

    // validate prints the same findings as warnings, and still answers valid.
    const validated = runCli(['validate', '-c', config]);
    expect(validated.code, validated.stderr).to.equal(0);
    expect(validated.stdout).to.match(/valid \(policy sha256:/);
    expect(validated.stderr).to.include('warning grant-duplicate');
    expect(validated.stderr).to.include('error key-missing');
  });

  it('reports an invalid file as validate does, exit 1', () => {
    const config = write('invalid.yaml', { ...baseConfig(), policy: [{ id: 'x', identities: ['spiffe://elsewhere.org/a'], destinations: ['nowhere'], methods: ['GET'], paths: ['/'] }] });
    const result = runCli(['lint', '-c', config]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/invalid\.yaml:\d+: policy\[0\]\.destinations\[0\]: unknown destination "nowhere"/);
    expect(result.stderr).to.match(/invalid\.yaml:\d+: policy\[0\]\.identities\[0\]: trust domain "elsewhere.org" is not configured/);
  });

  it('finds methods a destination never accepts, and body rules on methods without a body', () => {
    const base = baseConfig();
    const destinations = base['destinations'] as Record<string, Record<string, unknown>>;
    const config = write('methods.yaml', {
      ...base,
      destinations: { ...destinations, openai: { ...destinations['openai'], api: 'openai' } },
      policy: [
        ...(base['policy'] as unknown[]),
        { id: 'openai-patch', identities: ['spiffe://example.org/ns/ops/*'], destinations: ['openai'], methods: ['PATCH', 'PUT'], paths: ['/v1/*'] },
        { id: 'openai-mixed', identities: ['spiffe://example.org/ns/ops/a'], destinations: ['openai'], methods: ['POST', 'PATCH'], paths: ['/v1/files'] },
        { id: 'models-on-get', identities: ['spiffe://example.org/ns/ops/b'], destinations: ['openai'], methods: ['GET', 'POST'], paths: ['/v1/chat/completions'], models: ['gpt-4o-mini'] },
        // No api on tools: any method may be its own.
        { id: 'tools-patch', identities: ['spiffe://example.org/ns/ops/*'], destinations: ['tools'], methods: ['PATCH'], paths: ['/x'] },
      ],
    });
    const result = runCli(['lint', '-c', config, '--json']);
    const findings = (JSON.parse(result.stdout) as { findings: Array<{ code: string; severity: string; message: string; line: number }> }).findings.filter((f) => f.code.startsWith('method-'));
    expect(findings.map((f) => [f.code, f.severity, /rule "([^"]+)"/.exec(f.message)?.[1]])).to.deep.equal([
      ['method-not-accepted', 'warning', 'openai-patch'],
      ['method-not-accepted', 'warning', 'openai-mixed'],
      ['method-without-body', 'warning', 'models-on-get'],
    ]);
    expect(findings[0]!.message).to.include('never called with PATCH, PUT, so the rule can never apply there');
    expect(findings[1]!.message).to.include('never called with PATCH;');
    expect(findings[2]!.message).to.include('GET requests carry none: they are refused body_unreadable, never granted');
    expect(findings.every((f) => f.line > 0)).to.equal(true);
  });

  it('says which Vault keys it could not read, rather than calling them missing', () => {
    const base = baseConfig();
    writeFileSync(join(dir, 'vault-token'), 'not-a-token', { mode: 0o600 });
    const config = write('vault.yaml', { ...base, keys: { store: 'vault', address: 'http://127.0.0.1:1', auth: { method: 'token', tokenFile: './vault-token' }, timeout: '1s' } });
    const result = runCli(['lint', '-c', config, '--json']);
    const findings = (JSON.parse(result.stdout) as { findings: Array<{ code: string; message: string }> }).findings.filter((f) => f.code.startsWith('key-'));
    expect(findings.map((f) => f.code)).to.deep.equal(['key-unreadable', 'key-unreadable', 'key-unreadable']);
    expect(findings[0]!.message).to.match(/could not be read from vault, so it was not checked: .*unreachable/);
    expect(result.code, 'unread keys are warnings').to.equal(0);
  });
});
