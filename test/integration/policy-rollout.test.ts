/**
 * Rolling policy out safely, through the real Check over a real socket: shadow rules and
 * a candidate policy are evaluated on every Check, recorded (record, span attributes,
 * decision log, metric) when they would answer otherwise, and never change the answer;
 * a policy split over several files merges in a stable order and reloads as files come
 * and go.
 */
import { expect } from 'chai';
import { mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { attributesOf } from '../../src/audit/span.ts';
import type { DecisionRecord } from '../../src/model/check.ts';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { freePort } from '../helpers/envoy.ts';
import { poll } from '../helpers/poll.ts';
import { runCli } from '../helpers/process.ts';

const RESEARCH = 'spiffe://example.org/ns/research/summarizer';
const INTERN = 'spiffe://example.org/ns/interns/intern';

function records(t: TestBroker): DecisionRecord[] {
  return t.logs
    .lines()
    .filter((l) => l['decision'])
    .map((l) => l['decision'] as DecisionRecord);
}

async function lastRecord(t: TestBroker): Promise<DecisionRecord> {
  await new Promise((resolve) => setImmediate(resolve));
  return records(t).at(-1) as DecisionRecord;
}

/** Waits (bounded) until `condition` holds. */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  await poll(
    async () => {
      if (!(await condition())) throw new Error(`timed out waiting for ${what}`);
    },
    { timeoutMs: 5000, intervalMs: 100 },
  );
}

function policyOf(config: Record<string, unknown>): Array<Record<string, unknown>> {
  return config['policy'] as Array<Record<string, unknown>>;
}

describe('shadow rules', () => {
  let t: TestBroker;
  let metricsUrl: string;

  before(async () => {
    const port = await freePort();
    const config = baseConfig();
    policyOf(config).push(
      { id: 'shadow-block-research', mode: 'shadow', effect: 'deny', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], methods: ['POST'] },
      { id: 'shadow-interns-models', mode: 'shadow', identities: ['spiffe://example.org/ns/interns/*'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models/*'] },
      { id: 'shadow-same-answer', mode: 'shadow', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models/*'] },
    );
    t = await startTestBroker({ config: { ...config, telemetry: { metrics: { prometheus: { port } } } } });
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
  });
  after(async () => {
    await t.stop();
    rmSync(t.dir, { recursive: true, force: true });
  });

  it('leaves an allowed request allowed, and records what the shadow deny rule would have done', async () => {
    const response = await t.check(envoyCheckRequest({ principal: RESEARCH }));
    expect(response.status.code).to.equal(0);
    const record = await lastRecord(t);
    expect(record).to.include({ decision: 'allow', rule: 'research-openai' });
    expect(record.shadow).to.deep.equal({ decision: 'deny', reason: 'denied_by_rule', rule: 'shadow-block-research' });
    expect(attributesOf(record)).to.include({
      'keybroker.decision': 'allow',
      'keybroker.shadow.decision': 'deny',
      'keybroker.shadow.reason': 'denied_by_rule',
      'keybroker.shadow.rule': 'shadow-block-research',
    });
  });

  it('leaves a denied request denied, and records the shadow grant that would have allowed it', async () => {
    const response = await t.check(envoyCheckRequest({ principal: INTERN, method: 'GET', path: '/openai/v1/models/gpt-4o' }));
    expect(deniedBody(response).reason).to.equal('no_matching_grant');
    const record = await lastRecord(t);
    expect(record.shadow).to.deep.equal({ decision: 'allow', reason: 'allowed', rule: 'shadow-interns-models' });
  });

  it('records nothing when the shadow rules would answer the same', async () => {
    const response = await t.check(envoyCheckRequest({ principal: RESEARCH, method: 'GET', path: '/openai/v1/models/gpt-4o' }));
    expect(response.status.code).to.equal(0);
    const record = await lastRecord(t);
    expect(record.rule).to.equal('research-models');
    expect(record.shadow).to.equal(undefined);
    expect(attributesOf(record)).to.not.have.property('keybroker.shadow.decision');
    // A shadow rule is never enforced: the shadow grant alone allows nothing.
    const alone = await t.check(envoyCheckRequest({ principal: 'spiffe://example.org/ns/interns/other', method: 'GET', path: '/openai/v1/models/x' }));
    expect(deniedBody(alone).reason).to.equal('no_matching_grant');
  });

  it('counts disagreements per rule', async () => {
    const text = await (await fetch(metricsUrl)).text();
    const count = (rule: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith('keybroker_shadow_disagreements_total{') && l.includes(`rule="${rule}"`) && l.includes('policy="shadow"'))
          ?.split(' ')
          .at(-1) ?? 0,
      );
    expect(count('shadow-block-research')).to.equal(1);
    expect(count('shadow-interns-models')).to.equal(2);
    expect(count('shadow-same-answer')).to.equal(0);
  });

  it('shows the shadow answer in explain', () => {
    const result = runCli(['explain', '-c', t.configFile, '--identity', RESEARCH, '--destination', 'openai', '--path', '/v1/chat/completions']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/decision:\s+allow/);
    expect(result.stdout).to.match(/shadow:\s+deny \(denied_by_rule, rule shadow-block-research\)$/m);
    const same = runCli(['explain', '-c', t.configFile, '--identity', RESEARCH, '--destination', 'openai', '--method', 'GET', '--path', '/v1/models/x']);
    expect(same.code, same.stderr).to.equal(0);
    expect(same.stdout).to.match(/^shadow:\s+same answer$/m);
    // No candidate configured: said so by its absence.
    expect(same.stdout).to.not.match(/candidate:/);
  });
});

describe('a candidate policy', () => {
  let t: TestBroker;

  before(async () => {
    t = await startTestBroker({ config: { ...baseConfig(), policyCandidate: './next-policy.yaml' }, dir: candidateDir() });
  });
  after(async () => {
    await t.stop();
    rmSync(t.dir, { recursive: true, force: true });
  });

  function candidateDir(): string {
    const dir = join(process.env['TMPDIR'] ?? '/tmp', `keybroker-candidate-${process.pid}-${Date.now()}`);
    mkdirSync(dir);
    // The next policy: research keeps embeddings only; interns get chat.
    writeFileSync(
      join(dir, 'next-policy.yaml'),
      stringify([
        { id: 'research-embeddings', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/embeddings'] },
        { id: 'interns-chat', identities: ['spiffe://example.org/ns/interns/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] },
      ]),
    );
    return dir;
  }

  it('is evaluated beside the live policy and recorded where it disagrees, never enforced', async () => {
    expect((await t.check(envoyCheckRequest({ principal: RESEARCH }))).status.code).to.equal(0);
    let record = await lastRecord(t);
    expect(record.candidate).to.deep.equal({ decision: 'deny', reason: 'no_matching_grant' });
    expect(attributesOf(record)).to.include({ 'keybroker.candidate.decision': 'deny', 'keybroker.candidate.reason': 'no_matching_grant' });

    expect(deniedBody(await t.check(envoyCheckRequest({ principal: INTERN }))).reason).to.equal('no_matching_grant');
    record = await lastRecord(t);
    expect(record.candidate).to.deep.equal({ decision: 'allow', reason: 'allowed', rule: 'interns-chat' });

    expect((await t.check(envoyCheckRequest({ principal: RESEARCH, path: '/openai/v1/embeddings' }))).status.code).to.equal(0);
    expect((await lastRecord(t)).candidate).to.equal(undefined);
  });

  it('shows the candidate answer in explain, the same answer included', () => {
    const explain = (path: string) => runCli(['explain', '-c', t.configFile, '--identity', RESEARCH, '--destination', 'openai', '--path', path]);
    const differs = explain('/v1/chat/completions');
    expect(differs.code, differs.stderr).to.equal(0);
    expect(differs.stdout).to.match(/^candidate:\s+deny \(no_matching_grant\)$/m);
    expect(differs.stdout).to.not.match(/^shadow:/m);
    const same = explain('/v1/embeddings');
    expect(same.stdout).to.match(/^candidate:\s+same answer$/m);
  });

  it('is validated like the live policy, problems located in its own file', () => {
    writeFileSync(join(t.dir, 'next-policy.yaml'), stringify([{ id: 'bad', identities: ['spiffe://elsewhere.org/x'], destinations: ['nowhere'], methods: ['POST'], paths: ['/x'] }]));
    const result = runCli(['validate', '-c', t.configFile]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/next-policy\.yaml:\d+: \[0\]\.destinations\[0\]: unknown destination "nowhere"/);
    expect(result.stderr).to.match(/next-policy\.yaml:\d+: \[0\]\.identities\[0\]: trust domain "elsewhere.org" is not configured/);
  });
});

describe('policy in several files', () => {
  let t: TestBroker;
  const write = (name: string, rules: unknown[]) => writeFileSync(join(t.dir, 'policy.d', name), stringify(rules));

  before(async () => {
    const config = { ...baseConfig(), policy: { include: ['./policy.d/*.yaml', './extra.yaml'] } };
    t = await startTestBroker({ config: { ...config, policy: [] }, watchIntervalMs: 100 });
    mkdirSync(join(t.dir, 'policy.d'));
    const rules = policyOf(baseConfig());
    write('20-research.yaml', rules.slice(0, 3));
    write('10-writing.yaml', rules.slice(3));
    writeFileSync(join(t.dir, 'extra.yaml'), '# nothing yet\n');
    t.writeConfig(config);
    expect(await t.broker.watcher.reload()).to.equal(true);
  });
  after(async () => {
    await t.stop();
    rmSync(t.dir, { recursive: true, force: true });
  });

  it('merges the files in a stable order and enforces them as one policy', async () => {
    expect((await t.check(envoyCheckRequest({ principal: RESEARCH }))).status.code).to.equal(0);
    expect(deniedBody(await t.check(envoyCheckRequest({ principal: 'spiffe://example.org/ns/research/quarantined' }))).reason).to.equal('denied_by_rule');
    expect(t.broker.runtime().config.policy.map((r) => r.id)).to.deep.equal(['writer-anthropic', 'research-tools', 'research-openai', 'research-models', 'block-quarantined']);
  });

  it('reloads when a file is added, edited or removed; the version covers every file', async () => {
    const intern = envoyCheckRequest({ principal: INTERN });
    expect(deniedBody(await t.check(intern)).reason).to.equal('no_matching_grant');
    const v1 = t.broker.runtime().policy.version;

    write('30-interns.yaml', [{ id: 'interns-chat', identities: ['spiffe://example.org/ns/interns/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] }]);
    await until(async () => (await t.check(intern)).status.code === 0, 'the added policy file to take effect');
    const v2 = t.broker.runtime().policy.version;
    expect(v2).to.not.equal(v1);

    writeFileSync(join(t.dir, 'extra.yaml'), stringify([{ id: 'block-interns', effect: 'deny', identities: ['spiffe://example.org/ns/interns/*'], destinations: ['openai'] }]));
    await until(async () => deniedBody(await t.check(intern)).reason === 'denied_by_rule', 'the edited policy file to take effect');

    unlinkSync(join(t.dir, 'policy.d', '30-interns.yaml'));
    writeFileSync(join(t.dir, 'extra.yaml'), '[]\n');
    await until(async () => deniedBody(await t.check(intern)).reason === 'no_matching_grant', 'the removed policy file to take effect');
    expect(t.broker.runtime().policy.version).to.equal(v1);
  });

  it('rejects a rule id defined in two files, naming both, and keeps the last good policy', async () => {
    const version = t.broker.runtime().policy.version;
    write('40-dup.yaml', [{ id: 'research-openai', identities: ['spiffe://example.org/ns/interns/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] }]);
    expect(await t.broker.watcher.reload()).to.equal(false);
    expect(t.logs.text()).to.match(/policy\.d\/40-dup\.yaml:1: \[0\]\.id: rule id \\"research-openai\\" is already defined in [^ ]*policy\.d\/20-research\.yaml:1/);
    expect(t.broker.runtime().policy.version).to.equal(version);
    expect(deniedBody(await t.check(envoyCheckRequest({ principal: INTERN }))).reason).to.equal('no_matching_grant');
    unlinkSync(join(t.dir, 'policy.d', '40-dup.yaml'));
  });

  it('locates a problem in an included file at its line', () => {
    write('50-broken.yaml', [
      { id: 'ok', identities: ['spiffe://example.org/a'], destinations: ['openai'], methods: ['POST'], paths: ['/x'] },
      { id: 'typo', identities: ['spiffe://example.org/a'], destinations: ['openai'], methods: ['POST'], pths: ['/x'] },
    ]);
    try {
      const result = runCli(['validate', '-c', t.configFile]);
      expect(result.code).to.equal(1);
      expect(result.stderr).to.match(/policy\.d\/50-broken\.yaml:\d+: \[1\]\.pths: unknown key "pths"/);
    } finally {
      unlinkSync(join(t.dir, 'policy.d', '50-broken.yaml'));
    }
  });
});
