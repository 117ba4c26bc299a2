import { expect } from 'chai';
import { formatUsd, parseUsd } from '../../src/limit/money.ts';
import { parseWindow, windowAt } from '../../src/limit/window.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { compileLimits, countersOf, planCounters } from '../../src/limit/compile.ts';

const ISSUE_SHAPE = `
trust: { example.org: {} }
keys: { store: env }
destinations:
  openai: { upstream: api.openai.com, inject: openai, key: openai/prod }
teams:
  research: ["spiffe://example.org/ns/research/*"]
limits:
  store: memory
  onStoreError: deny
  rules:
    - id: research-rate
      identities: ["spiffe://example.org/ns/research/*"]
      destinations: [openai]
      per: identity
      requests: { rate: 2, per: 1m, burst: 2 }
    - id: research-team-month
      teams: [research]
      per: team
      costUsd: { max: "500.00", per: month }
      tokens: { output: 2000000, per: 1d }
`;

function problems(text: string): string {
  try {
    parseConfigText(text, 'c.yaml', '/tmp');
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as Error).message;
  }
  return expect.fail('accepted');
}

describe('limits: money, windows and configuration', () => {
  it('counts dollars exactly, in micro-dollars', () => {
    expect(parseUsd('500.00')).to.equal(500_000_000);
    expect(parseUsd('0.1')! + parseUsd('0.2')!).to.equal(parseUsd('0.3'));
    expect(parseUsd('0.000001')).to.equal(1);
    for (const bad of ['1e3', '-1', '0.0000001', '1,00', '', '1000000001']) expect(parseUsd(bad), bad).to.equal(undefined);
    expect(formatUsd(499_950_000)).to.equal('499.95');
    expect(formatUsd(1)).to.equal('0.000001');
    expect(formatUsd(0)).to.equal('0.00');
    expect(formatUsd(-2_500_000)).to.equal('-2.50');
  });

  it('aligns fixed windows to the epoch and months to the UTC calendar', () => {
    const now = Date.UTC(2026, 1, 28, 23, 59, 59, 999);
    expect(windowAt(parseWindow('1h')!, now)).to.deep.equal({ start: Date.UTC(2026, 1, 28, 23), end: Date.UTC(2026, 1, 29, 0) });
    expect(windowAt(parseWindow('1d')!, now)).to.deep.equal({ start: Date.UTC(2026, 1, 28), end: Date.UTC(2026, 2, 1) });
    expect(windowAt(parseWindow('month')!, now)).to.deep.equal({ start: Date.UTC(2026, 1, 1), end: Date.UTC(2026, 2, 1) });
    expect(windowAt(parseWindow('month')!, now + 1)).to.deep.equal({ start: Date.UTC(2026, 2, 1), end: Date.UTC(2026, 3, 1) });
    expect(windowAt(parseWindow('month')!, Date.UTC(2026, 11, 31, 12))).to.deep.equal({ start: Date.UTC(2026, 11, 1), end: Date.UTC(2027, 0, 1) });
    const thirty = windowAt(parseWindow('30d')!, now);
    expect(thirty.end - thirty.start).to.equal(30 * 86_400_000);
    expect(thirty.start % (30 * 86_400_000)).to.equal(0);
    for (const bad of ['0m', '1w', 'monthly', '1.5h', '']) expect(parseWindow(bad), bad).to.equal(undefined);
  });

  it('accepts the documented shape and plans its counters', () => {
    const config = parseConfigText(ISSUE_SHAPE, 'c.yaml', '/tmp');
    const limits = config.limits!;
    expect(limits).to.deep.include({ store: 'memory', onStoreError: 'deny', replicas: 1 });
    expect(limits.rules[1]!.costUsd!.max).to.equal(500_000_000);
    const compiled = compileLimits(limits);
    const now = Date.UTC(2026, 10, 28, 12);
    const counters = planCounters(
      compiled,
      { identity: 'spiffe://example.org/ns/research/a', teams: ['research'], destination: 'openai' },
      { inputTokens: 10, outputTokens: 500, costMicros: 20_000 },
      now,
    );
    expect(counters.map((c) => [c.kind, c.limitId, c.subject, c.metric])).to.deep.equal([
      ['bucket', 'research-rate', 'identity:spiffe://example.org/ns/research/a', 'requests'],
      ['window', 'research-team-month', 'team:research', 'output_tokens'],
      ['window', 'research-team-month', 'team:research', 'cost_usd'],
    ]);
    expect(counters[2]).to.deep.include({
      max: 500_000_000,
      amount: 20_000,
      start: Date.UTC(2026, 10, 1),
      end: Date.UTC(2026, 11, 1),
      key: `keybroker:w:research-team-month:cost_usd:team:research:${Date.UTC(2026, 10, 1)}`,
    });
    // Outside the scope: no counters. The local fallback's share divides every limit.
    expect(planCounters(compiled, { identity: 'spiffe://example.org/ns/other/a', teams: [], destination: 'openai' }, { inputTokens: 1, outputTokens: 1, costMicros: 1 }, now)).to.deep.equal([]);
    const shared = planCounters(
      compiled,
      { identity: 'spiffe://example.org/ns/research/a', teams: ['research'], destination: 'openai' },
      { inputTokens: 10, outputTokens: 500, costMicros: 20_000 },
      now,
      3,
    );
    expect(shared.map((c) => (c.kind === 'bucket' ? [c.rate, c.burst] : c.max))).to.deep.equal([[2 / 3, 1], 666_666, 166_666_666]);
  });

  it('plans the same counters from its per-subject memo as countersOf builds, across windows, amounts and many subjects', () => {
    const compiled = compileLimits(parseConfigText(ISSUE_SHAPE, 'c.yaml', '/tmp').limits!);
    const subject = (i: number) => ({ identity: `spiffe://example.org/ns/research/a${i}`, teams: ['research'], destination: 'openai' });
    const fresh = (i: number, estimate: { inputTokens: number; outputTokens: number; costMicros: number }, now: number) =>
      compiled.limits.flatMap((limit) =>
        limit.spec.per === 'identity'
          ? countersOf(compiled.prefix, limit.spec, `identity:${subject(i).identity}`, estimate, now)
          : countersOf(compiled.prefix, limit.spec, 'team:research', estimate, now),
      );
    const now = Date.UTC(2026, 10, 30, 23, 59, 59, 999);
    const small = { inputTokens: 10, outputTokens: 500, costMicros: 20_000 };
    const large = { inputTokens: 10, outputTokens: 4000, costMicros: 90_000 };
    // The same subject again, a new amount, the next month (a new window key): each as if built afresh.
    for (const [estimate, at] of [
      [small, now],
      [small, now],
      [large, now],
      [large, now + 1],
      [small, now + 1],
    ] as const) {
      expect(planCounters(compiled, subject(0), estimate, at)).to.deep.equal(fresh(0, estimate, at));
    }
    expect(planCounters(compiled, subject(0), small, now + 1)[2]!.key).to.equal(`keybroker:w:research-team-month:cost_usd:team:research:${Date.UTC(2026, 11, 1)}`);
    // More subjects than the memo keeps: it starts again, and every answer stays right.
    for (let i = 0; i < 10_050; i += 1) planCounters(compiled, subject(i), small, now);
    for (const i of [0, 10_049]) expect(planCounters(compiled, subject(i), small, now)).to.deep.equal(fresh(i, small, now));
  });

  it('refuses what would silently not limit, naming the path', () => {
    const edit = (from: string, to: string) => ISSUE_SHAPE.replace(from, to);
    expect(problems(edit('max: "500.00"', 'max: 500'))).to.match(/limits\.rules\[1\]\.costUsd\.max: expected US dollars as a quoted decimal/);
    expect(problems(edit('per: month', 'per: monthly'))).to.match(/expected a window/);
    expect(problems(edit('per: 1m, burst', 'per: month, burst'))).to.match(/expected a window such as "1m", "1h", "1d", "30d", got "month"/);
    expect(problems(edit('teams: [research]', 'teams: [reserch]'))).to.match(/unknown team "reserch"/);
    expect(problems(edit('destinations: [openai]', 'destinations: [opneai]'))).to.match(/unknown destination "opneai"/);
    expect(problems(edit('id: research-team-month', 'id: research-rate'))).to.match(/limit id "research-rate" is used twice/);
    expect(problems(edit('      teams: [research]\n      per: team', '      per: team'))).to.match(/a limit per team names its teams/);
    expect(problems(edit('per: identity', 'per: person'))).to.match(/limits by person need an issuer of kind "person"/);
    expect(problems(edit('tokens: { output: 2000000, per: 1d }', 'tokens: { per: 1d }'))).to.match(/at least one of input, output or total/);
    expect(problems(edit('onStoreError: deny', 'onStoreError: allow'))).to.match(/onStoreError/);
    expect(problems(edit('store: memory', 'store: { redis: { url: "redis://user:secret@redis:6379" } }'))).to.match(/no credentials in the URL/);
    expect(problems(edit('store: memory', 'store: { redis: { url: "http://redis:6379" } }'))).to.match(/redis:\/\/host:port/);
    expect(problems(edit('      requests: { rate: 2, per: 1m, burst: 2 }', '      requests: { rate: 0, per: 1m }'))).to.match(/at least 1/);
    expect(problems(edit('"spiffe://example.org/ns/research/*"]\n      destinations', '"spiffe://elsewhere/ns/research/*"]\n      destinations'))).to.match(/trust domain "elsewhere"/);
  });
});
