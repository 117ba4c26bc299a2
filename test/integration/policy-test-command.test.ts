/** `keybroker test`: policy unit tests through the real pipeline, as CI runs them. */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { baseConfig } from '../helpers/broker.ts';
import { runCli } from '../helpers/process.ts';
import { expectNoCanary } from '../helpers/canary.ts';

describe('keybroker test', function () {
  this.timeout(120_000);
  let dir: string;
  let config: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-policy-test-'));
    config = join(dir, 'keybroker.yaml');
    writeFileSync(join(dir, 'people.jwks'), JSON.stringify({ keys: [] }));
    const base = baseConfig();
    (base['policy'] as unknown[]).push({
      id: 'ml-people-tools',
      identities: ['spiffe://example.org/ns/ml/*'],
      destinations: ['tools'],
      methods: ['GET'],
      paths: ['/*'],
      person: { required: true, groups: ['ml'] },
    });
    // No keys file at all: the command must not read keys.
    writeFileSync(config, stringify({ ...base, issuers: [{ kind: 'person', name: 'people', issuer: 'https://login.example.com', jwks: { file: './people.jwks' }, audiences: ['keybroker'] }] }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases = (list: unknown[]) => {
    const file = join(dir, `cases-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, stringify({ cases: list }));
    return file;
  };
  const research = { identity: 'spiffe://example.org/ns/research/summarizer', destination: 'openai', method: 'POST', path: '/v1/chat/completions' };

  it('passes the demo policy tests in examples/ (exit 0)', () => {
    const result = runCli(['test', '-c', 'examples/keybroker.yaml', 'examples/policy-tests.yaml']);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^8 passed, 0 failed$/m);
  });

  it('decides as Check does: grants, deny rules, people in groups, proofs; reads no key', () => {
    const file = cases([
      { name: 'research chats', ...research, expect: { decision: 'allow', reason: 'allowed', rule: 'research-openai' } },
      {
        name: 'quarantined is denied by rule',
        ...research,
        identity: 'spiffe://example.org/ns/research/quarantined',
        expect: { decision: 'deny', reason: 'denied_by_rule', rule: 'block-quarantined' },
      },
      {
        name: 'a person in ml may use tools',
        identity: 'spiffe://example.org/ns/ml/agent',
        proof: 'kubernetes',
        destination: 'tools',
        method: 'GET',
        path: '/search',
        person: { sub: 'alice', groups: ['ml'] },
        expect: { decision: 'allow', rule: 'ml-people-tools' },
      },
      {
        name: 'a person outside ml may not',
        identity: 'spiffe://example.org/ns/ml/agent',
        destination: 'tools',
        method: 'GET',
        path: '/search',
        person: { groups: ['sales'] },
        expect: { decision: 'deny', reason: 'no_matching_grant' },
      },
      { name: 'no person, no grant', identity: 'spiffe://example.org/ns/ml/agent', destination: 'tools', method: 'GET', path: '/search', expect: { decision: 'deny', reason: 'no_matching_grant' } },
    ]);
    const result = runCli(['test', '-c', config, file]);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^5 passed, 0 failed$/m);
  });

  it('prints each failure with the rule that decided and where it is written, and exits 1', () => {
    const file = cases([
      { name: 'passes', ...research, expect: { decision: 'allow' } },
      { name: 'wrongly expects a denial', ...research, expect: { decision: 'deny', reason: 'no_matching_grant' } },
    ]);
    const result = runCli(['test', '-c', config, file]);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.include('ok    passes');
    expect(result.stdout).to.match(/FAIL {2}wrongly expects a denial \(.*cases-\w+\.yaml:\d+\)/);
    expect(result.stdout).to.include('decision: expected deny, got allow');
    expect(result.stdout).to.include('reason: expected no_matching_grant, got allowed');
    expect(result.stdout).to.match(/decided by: rule research-openai \(.*keybroker\.yaml:\d+\), reason allowed/);
    expect(result.stdout).to.match(/^1 passed, 1 failed$/m);
  });

  it('writes JUnit XML with --junit', () => {
    const file = cases([
      { name: 'passes <&>', ...research, expect: { decision: 'allow' } },
      { name: 'fails', ...research, expect: { decision: 'deny' } },
    ]);
    const out = join(dir, 'junit.xml');
    expect(runCli(['test', '-c', config, file, '--junit', out]).code).to.equal(1);
    const xml = readFileSync(out, 'utf8');
    expect(xml).to.match(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites tests="2" failures="1">/);
    expect(xml).to.include('name="passes &lt;&amp;&gt;"');
    expect(xml).to.match(/<testcase [^>]*name="fails"[^>]*>\s*<failure message="decision: expected deny, got allow">[^<]*decided by: research-openai/);
    expect(xml.match(/<testcase /g)).to.have.length(2);
    expectNoCanary(xml, 'the JUnit file');
  });

  it('refuses a cases file it cannot read whole, naming the line, with exit 2', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      ['cases:', '  - name: typo', '    identity: spiffe://example.org/a', '    destination: openai', '    method: POST', '    path: /x', '    expct: { decision: allow }'].join('\n'),
    );
    const result = runCli(['test', '-c', config, file]);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/bad\.yaml:\d+: cases\[0\]\.expct: unknown key "expct"/);
    expect(result.stderr).to.match(/bad\.yaml:2: cases\[0\]\.expect: /);
    const dup = cases([
      { name: 'a', ...research, expect: { decision: 'allow' } },
      { name: 'a', ...research, expect: { decision: 'allow' } },
    ]);
    expect(runCli(['test', '-c', config, dup]).stderr).to.match(/cases\[1\]\.name: case name "a" is used twice/);
    expect(runCli(['test', '-c', join(dir, 'absent.yaml'), dup]).code).to.equal(2);
    expect(runCli(['test', '-c', config]).code).to.equal(2);
  });
});
