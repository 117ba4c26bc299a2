/** The decision log's usage lines as `keybroker usage` reads and sums them. */
import { expect } from 'chai';
import { parseUsageLine } from '../../src/usage/log-line.ts';
import { summarizeUsage, totalsJson } from '../../src/usage/summarize.ts';
import { timeOf } from '../../src/cli/usage.ts';
import { UsageError } from '../../src/cli/command.ts';

const line = (usage: Record<string, unknown>, time = 1000) => JSON.stringify({ level: 30, time, service: 'keybroker', usage, msg: 'usage' });
const A = 'spiffe://example.org/a';
const B = 'spiffe://example.org/b';

describe('usage log lines', () => {
  it('reads a metered record and an unmetered one without counts', () => {
    expect(
      parseUsageLine(line({ decisionId: 'd', identity: A, destination: 'openai', api: 'openai', model: 'm', metered: true, inputTokens: 3, cachedInputTokens: 1, outputTokens: 2, costUsd: '0.5' })),
    ).to.deep.equal({
      time: 1000,
      identity: A,
      person: undefined,
      destination: 'openai',
      model: 'm',
      metered: true,
      inputTokens: 3,
      cachedInputTokens: 1,
      outputTokens: 2,
      costPicos: 500_000_000_000n,
    });
    expect(parseUsageLine(line({ identity: A, destination: 'openai', metered: false, cause: 'status' }))).to.include({ metered: false, inputTokens: 0, outputTokens: 0 });
  });

  it('ignores other lines and refuses records that are not whole', () => {
    expect(parseUsageLine('')).to.equal('other');
    expect(parseUsageLine(JSON.stringify({ level: 30, time: 1, decision: {}, msg: 'check allowed' }))).to.equal('other');
    for (const bad of [
      '{not json',
      '[1,2]',
      line({ identity: A, destination: 'openai', metered: true }),
      line({ identity: A, destination: 'openai', metered: 'yes', inputTokens: 1, cachedInputTokens: 0, outputTokens: 1 }),
      line({ identity: 7, destination: 'openai', metered: true, inputTokens: 1, cachedInputTokens: 0, outputTokens: 1 }),
      line({ identity: A, destination: 'openai', metered: true, inputTokens: 1, cachedInputTokens: 0, outputTokens: 1, costUsd: '-1' }),
      line({ identity: A, destination: 'openai', metered: true, inputTokens: 1, cachedInputTokens: 0, outputTokens: 1, costUsd: '1e-3' }),
      line({ identity: A, destination: 'openai', metered: true, inputTokens: 1, cachedInputTokens: 0, outputTokens: 1, person: 5 }),
      JSON.stringify({ level: 30, time: 'now', usage: { identity: A, destination: 'openai', metered: false }, msg: 'usage' }),
      JSON.stringify({ level: 30, time: 1, usage: 'lots', msg: 'usage' }),
    ])
      expect(parseUsageLine(bad), bad).to.equal('malformed');
  });
});

describe('usage summary', () => {
  const rec = (identity: string, more: Record<string, unknown>, time = 1000) =>
    line({ identity, destination: 'openai', metered: true, inputTokens: 10, cachedInputTokens: 5, outputTokens: 1, ...more }, time);

  it('groups, orders by cost then requests, and counts unpriced calls', async () => {
    const summary = await summarizeUsage(
      [
        rec(A, { costUsd: '0.1', person: 'alice' }),
        rec(B, { costUsd: '0.4' }),
        rec(A, { costUsd: '0.2', person: 'alice' }),
        rec(B, {}),
        line({ identity: A, destination: 'openai', metered: false, cause: 'cut' }),
        'garbage',
      ],
      { by: ['agent', 'person'] },
    );
    expect(summary.malformed).to.equal(1);
    expect(summary.groups.map((g) => g.key)).to.deep.equal([
      { agent: B, person: '-' },
      { agent: A, person: 'alice' },
      { agent: A, person: '-' },
    ]);
    expect(totalsJson(summary.groups[0]!.totals)).to.deep.equal({ requests: 2, metered: 2, unmetered: 0, inputTokens: 20, cachedInputTokens: 10, outputTokens: 2, unpriced: 1, costUsd: '0.4' });
    expect(totalsJson(summary.total)).to.include({ requests: 5, metered: 4, unmetered: 1, unpriced: 1, costUsd: '0.7' });
  });

  it('keeps records in [from, to)', async () => {
    const lines = [rec(A, { costUsd: '1' }, 100), rec(A, { costUsd: '2' }, 200), rec(A, { costUsd: '4' }, 300)];
    expect(totalsJson((await summarizeUsage(lines, { by: ['model'], from: 200, to: 300 })).total).costUsd).to.equal('2');
    expect((await summarizeUsage(lines, { by: ['destination'], from: 100 })).groups[0]!.key).to.deep.equal({ destination: 'openai' });
  });
});

describe('usage --from/--to', () => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  it('reads ISO times and times ago', () => {
    expect(timeOf('2026-11-01', '--from', now)).to.equal(Date.parse('2026-11-01T00:00:00Z'));
    expect(timeOf('2026-11-01T08:00Z', '--from', now)).to.equal(Date.parse('2026-11-01T08:00:00Z'));
    expect(timeOf('24h', '--from', now)).to.equal(now - 86_400_000);
    expect(timeOf('7d', '--from', now)).to.equal(now - 7 * 86_400_000);
    expect(timeOf('30m', '--from', now)).to.equal(now - 1_800_000);
    for (const bad of ['yesterday', '2026-13-45', '1w', '-1h']) expect(() => timeOf(bad, '--to', now), bad).to.throw(UsageError, '--to: expected');
  });
});
