/**
 * `keybroker usage` as an auditor runs it: the real CLI over a generated decision log
 * (usage records among other lines), from a file and from stdin. Expected sums are
 * computed here from the generated records, in integers, independently of the CLI.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/process.ts';
import { CANARY_KEY, CANARY_PROMPT, expectNoCanary } from '../helpers/canary.ts';

const AGENTS = ['spiffe://example.org/ns/research/sa/agent', 'spiffe://example.org/ns/support/sa/bot', 'spiffe://example.org/ns/ops/sa/cron'];
const MODELS = ['gpt-4o-mini-2024-07-18', 'claude-3-5-haiku-20241022', 'o3'];
const HOUR = 3_600_000;

interface Generated {
  time: number;
  agent: string;
  person?: string;
  destination: string;
  model: string;
  metered: boolean;
  input: number;
  cached: number;
  output: number;
  /** Pico-dollars, or undefined when unpriced. */
  picos?: bigint;
}

function picosText(picos: bigint): string {
  const whole = picos / 10n ** 12n;
  const fraction = (picos % 10n ** 12n).toString().padStart(12, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : `${whole}`;
}

function generate(now: number): { records: Generated[]; lines: string[] } {
  const records: Generated[] = [];
  const lines: string[] = [];
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 600; i++) {
    const agent = AGENTS[next(3)]!;
    const model = MODELS[next(3)]!;
    const metered = next(10) !== 0;
    const input = metered ? 1 + next(5000) : 0;
    const cached = metered ? next(input + 1) : 0;
    const output = metered ? next(2000) : 0;
    // o3 has no price: cost unknown. Others: an exact cost with up to 12 decimals.
    const picos = metered && model !== 'o3' ? BigInt(input) * 150_000n + BigInt(output) * 600_000n + BigInt(next(999)) : undefined;
    const record: Generated = {
      time: now - (i % 48) * HOUR - 1000,
      agent,
      ...(i % 3 === 0 && { person: `user-${i % 5}` }),
      destination: model.startsWith('claude') ? 'anthropic' : 'openai',
      model,
      metered,
      input,
      cached,
      output,
      ...(picos !== undefined && { picos }),
    };
    records.push(record);
    const usage = {
      decisionId: `d-${i}`,
      identity: agent,
      ...(record.person && { person: record.person }),
      destination: record.destination,
      api: record.destination,
      model,
      metered,
      ...(!metered && { cause: 'cut' }),
      inputTokens: input,
      cachedInputTokens: cached,
      outputTokens: output,
      ...(picos !== undefined && { costUsd: picosText(picos) }),
    };
    lines.push(JSON.stringify({ level: 30, time: record.time, service: 'keybroker', usage, msg: 'usage' }));
    // A decision line beside it, as the real log has.
    if (i % 4 === 0) lines.push(JSON.stringify({ level: 30, time: record.time, service: 'keybroker', decision: { decision: 'allow', identity: agent }, msg: 'check allowed' }));
  }
  return { records, lines };
}

function sums(records: readonly Generated[]) {
  let cost = 0n;
  const t = { requests: 0, metered: 0, unmetered: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, unpriced: 0 };
  for (const r of records) {
    t.requests++;
    t[r.metered ? 'metered' : 'unmetered']++;
    t.inputTokens += r.input;
    t.cachedInputTokens += r.cached;
    t.outputTokens += r.output;
    if (r.picos !== undefined) cost += r.picos;
    else if (r.metered) t.unpriced++;
  }
  return { ...t, costUsd: picosText(cost) };
}

describe('keybroker usage', () => {
  const now = Date.now();
  const { records, lines } = generate(now);
  const malformed = [
    'not json at all ' + CANARY_KEY,
    JSON.stringify({
      level: 30,
      time: now,
      usage: { identity: AGENTS[0], destination: 'openai', metered: true, inputTokens: 1, cachedInputTokens: 0, outputTokens: 1, costUsd: 0.5 },
      msg: 'usage',
      prompt: CANARY_PROMPT,
    }),
    JSON.stringify({ level: 30, time: now, usage: { identity: AGENTS[0], destination: 'openai', metered: true, inputTokens: -1, cachedInputTokens: 0, outputTokens: 1 }, msg: 'usage' }),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-usage-'));
  const file = join(dir, 'decisions.log');
  writeFileSync(file, [...lines.slice(0, 100), ...malformed, ...lines.slice(100), ''].join('\n'));

  it('sums every record per agent, exactly, and counts malformed lines without echoing them', () => {
    const result = runCli(['usage', file, '--json']);
    expect(result.code, result.stderr).to.equal(0);
    const out = JSON.parse(result.stdout) as { by: string[]; groups: Array<Record<string, unknown>>; total: Record<string, unknown>; malformedLines: number };
    expect(out.by).to.deep.equal(['agent']);
    expect(out.malformedLines).to.equal(3);
    expect(out.total).to.deep.equal(sums(records));
    for (const agent of AGENTS) {
      const group = out.groups.find((g) => g.agent === agent)!;
      const { agent: _, ...totals } = group;
      expect(totals, agent).to.deep.equal(sums(records.filter((r) => r.agent === agent)));
    }
    expect(result.stderr).to.include('3 malformed usage lines skipped');
    expectNoCanary(result.stdout + result.stderr, 'keybroker usage output');
  });

  it('groups by several keys and keeps a time range, reading stdin', () => {
    const result = runCli(['usage', '--by', 'person,model', '--from', '24h', '--json'], { input: lines.join('\n') });
    expect(result.code, result.stderr).to.equal(0);
    const out = JSON.parse(result.stdout) as { groups: Array<Record<string, unknown>>; total: Record<string, unknown>; malformedLines: number };
    const recent = records.filter((r) => r.time >= now - 24 * HOUR);
    expect(recent.length).to.be.within(1, records.length - 1);
    expect(out.total).to.deep.equal(sums(recent));
    expect(out.malformedLines).to.equal(0);
    const alone = out.groups.find((g) => g.person === '-' && g.model === 'o3')!;
    const { person: _p, model: _m, ...totals } = alone;
    expect(totals).to.deep.equal(sums(recent.filter((r) => r.person === undefined && r.model === 'o3')));
  });

  it('keeps --from inclusive and --to exclusive, in ISO time', () => {
    const from = new Date(now - 10 * HOUR - 1000).toISOString();
    const to = new Date(now - 2 * HOUR - 1000).toISOString();
    const result = runCli(['usage', file, '--from', from, '--to', to, '--by', 'destination', '--json']);
    expect(result.code, result.stderr).to.equal(0);
    const expected = records.filter((r) => r.time >= Date.parse(from) && r.time < Date.parse(to));
    expect(JSON.parse(result.stdout).total).to.deep.equal(sums(expected));
  });

  it('prints a table with a total row', () => {
    const result = runCli(['usage', file, '--by', 'destination']);
    expect(result.code, result.stderr).to.equal(0);
    const rows = result.stdout.trimEnd().split('\n');
    expect(rows[0]).to.match(/^destination\s+requests\s+metered\s+unmetered\s+input\s+cached\s+output\s+cost USD\s+unpriced$/);
    expect(rows).to.have.length(4);
    const total = sums(records);
    expect(rows[3]!.split(/\s+/)).to.deep.equal([
      'total',
      ...[total.requests, total.metered, total.unmetered, total.inputTokens, total.cachedInputTokens, total.outputTokens, total.costUsd, total.unpriced].map(String),
    ]);
  });

  it('answers a wrong --by or time with exit 2, naming what it expected', () => {
    const by = runCli(['usage', file, '--by', 'team']);
    expect(by.code).to.equal(2);
    expect(by.stderr).to.include('--by: expected agent, person, destination, model, got "team"');
    const from = runCli(['usage', file, '--from', 'yesterday']);
    expect(from.code).to.equal(2);
    expect(from.stderr).to.include('--from: expected an ISO 8601 time');
  });

  it('answers an empty range or an unknown option with exit 2', () => {
    expect(runCli(['usage', file, '--from', '1h', '--to', '2h']).code).to.equal(2);
    expect(runCli(['usage', file, '--bogus']).code).to.equal(2);
  });

  it('answers a missing file with exit 1, and --help with the usage', () => {
    const missing = runCli(['usage', join(dir, 'nope.log')]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include('cannot read');
    const help = runCli(['usage', '--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include('usage: keybroker usage');
  });
});
