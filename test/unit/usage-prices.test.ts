/**
 * Prices: which price a model gets (most specific pattern first), exact costs with no
 * float anywhere, and the `prices:` configuration's errors.
 */
import { expect } from 'chai';
import { compilePrices, costOf, costPicos, estimateCost, priceFor } from '../../src/usage/prices.ts';
import { formatExactUsd, microsOf, parseExactUsd, PICOS_PER_USD } from '../../src/usage/exact-usd.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/config/errors.ts';

const price = (destination: string, model: string, input: string, output: string, cached?: string) => ({
  destination,
  model,
  inputPerMillion: input,
  outputPerMillion: output,
  ...(cached !== undefined && { cachedInputPerMillion: cached }),
});

describe('price table', () => {
  const table = compilePrices([
    price('openai', '*', '10', '30'),
    price('openai', 'gpt-4o*', '2.50', '10.00', '1.25'),
    price('openai', 'gpt-4o-mini*', '0.15', '0.60', '0.075'),
    price('openai', 'gpt-4o-mini-2024-07-18', '0.14', '0.59'),
    price('anthropic', 'claude-3-5-haiku*', '0.80', '4.00', '0.08'),
  ]);

  it('takes the exact name first, then the longest prefix, then "*"', () => {
    expect(priceFor(table, 'openai', 'gpt-4o-mini-2024-07-18')?.model).to.equal('gpt-4o-mini-2024-07-18');
    expect(priceFor(table, 'openai', 'gpt-4o-mini-2025-01-01')?.model).to.equal('gpt-4o-mini*');
    expect(priceFor(table, 'openai', 'gpt-4o-2024-08-06')?.model).to.equal('gpt-4o*');
    expect(priceFor(table, 'openai', 'gpt-4o')?.model).to.equal('gpt-4o*');
    expect(priceFor(table, 'openai', 'o3')?.model).to.equal('*');
  });

  it('has no price for another destination, an unknown model, or no model', () => {
    expect(priceFor(table, 'anthropic', 'gpt-4o')).to.equal(undefined);
    expect(priceFor(table, 'anthropic', 'claude-sonnet-4')).to.equal(undefined);
    expect(priceFor(table, 'mistral', 'gpt-4o')).to.equal(undefined);
    expect(priceFor(table, 'openai', undefined)).to.equal(undefined);
    expect(priceFor(compilePrices(undefined), 'openai', 'gpt-4o')).to.equal(undefined);
  });

  it('charges cached input at its own price, or at the input price when none is set', () => {
    const mini = priceFor(table, 'openai', 'gpt-4o-mini-2025-01-01')!;
    // 93 uncached × 0.15 + 1024 cached × 0.075 + 46 output × 0.60, per million.
    expect(costOf({ inputTokens: 1117, cachedInputTokens: 1024, outputTokens: 46 }, mini)).to.deep.equal({ usd: '0.00011835', micros: 119 });
    const exact = priceFor(table, 'openai', 'gpt-4o-mini-2024-07-18')!;
    expect(exact.cachedInputPerMillion).to.equal(exact.inputPerMillion);
    expect(costOf({ inputTokens: 1117, cachedInputTokens: 1024, outputTokens: 46 }, exact).usd).to.equal('0.00018352');
    expect(costOf({ inputTokens: 0, cachedInputTokens: 0, outputTokens: 0 }, exact)).to.deep.equal({ usd: '0', micros: 0 });
  });

  it('rounds micro-dollars up, never down, and keeps the decimal exact', () => {
    const haiku = priceFor(table, 'anthropic', 'claude-3-5-haiku-20241022')!;
    // One input token at 0.80 per million: 0.0000008 USD, which a limit charges as 1 µUSD.
    expect(costOf({ inputTokens: 1, cachedInputTokens: 0, outputTokens: 0 }, haiku)).to.deep.equal({ usd: '0.0000008', micros: 1 });
    expect(costOf({ inputTokens: 1_250_000, cachedInputTokens: 0, outputTokens: 0 }, haiku)).to.deep.equal({ usd: '1', micros: 1_000_000 });
    expect(costOf({ inputTokens: 1_250_001, cachedInputTokens: 0, outputTokens: 0 }, haiku)).to.deep.equal({ usd: '1.0000008', micros: 1_000_001 });
  });

  it('sums a million small costs exactly, where floating point drifts', () => {
    const tiny = compilePrices([price('openai', 'm', '0.1', '0.3')]);
    const p = priceFor(tiny, 'openai', 'm')!;
    let exact = 0n;
    let float = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const cost = costOf({ inputTokens: 1, cachedInputTokens: 0, outputTokens: 1 }, p);
      exact += parseExactUsd(cost.usd)!;
      float += Number(cost.usd);
    }
    expect(formatExactUsd(exact)).to.equal('0.4');
    expect(float).to.not.equal(0.4);
  });

  it('costs huge counts without overflow', () => {
    const p = priceFor(compilePrices([price('openai', 'm', '999999.999999', '999999.999999')]), 'openai', 'm')!;
    const n = Number.MAX_SAFE_INTEGER;
    expect(costPicos({ inputTokens: n, cachedInputTokens: 0, outputTokens: n }, p)).to.equal(2n * BigInt(n) * 999_999_999_999n);
    expect(costOf({ inputTokens: n, cachedInputTokens: 0, outputTokens: n }, p).micros).to.equal(Number.MAX_SAFE_INTEGER);
  });
});

describe('exact USD', () => {
  it('formats and parses pico-dollars without loss', () => {
    for (const text of ['0', '1', '0.000000000001', '12.5', '123456789012345.999999999999', '-0.25']) expect(formatExactUsd(parseExactUsd(text)!)).to.equal(text);
    expect(parseExactUsd('1.50')).to.equal((15n * PICOS_PER_USD) / 10n);
    for (const text of ['', '1.', '.5', '1e-7', '0.0000000000001', 'NaN', '1,5', ' 1']) expect(parseExactUsd(text), text).to.equal(undefined);
    expect(microsOf(1n)).to.equal(1);
    expect(microsOf(0n)).to.equal(0);
    expect(microsOf(1_000_000n)).to.equal(1);
    expect(microsOf(1_000_001n)).to.equal(2);
  });
});

const BASE = `
trust: { example.org: {} }
keys: { store: env }
destinations:
  openai: { upstream: api.openai.com, inject: openai, key: openai/prod, api: openai }
  anthropic: { upstream: api.anthropic.com, inject: anthropic, key: anthropic/prod, api: anthropic }
`;

function problems(prices: string): string {
  try {
    parseConfigText(`${BASE}prices:\n${prices}`, 'c.yaml', '/tmp');
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as Error).message;
  }
  return expect.fail('accepted');
}

describe('prices: configuration', () => {
  it('accepts the documented shape', () => {
    const config = parseConfigText(
      `${BASE}prices:\n  - { destination: openai, model: "gpt-4o-mini*", inputPerMillion: "0.15", cachedInputPerMillion: "0.075", outputPerMillion: "0.60" }\n`,
      'c.yaml',
      '/tmp',
    );
    expect(config.prices).to.deep.equal([{ destination: 'openai', model: 'gpt-4o-mini*', inputPerMillion: '0.15', cachedInputPerMillion: '0.075', outputPerMillion: '0.60' }]);
    expect(parseConfigText(BASE, 'c.yaml', '/tmp').prices).to.deep.equal([]);
  });

  it('refuses a price given as a number, with the path and what to write', () => {
    const message = problems('  - { destination: openai, model: gpt-4o, inputPerMillion: 0.15, outputPerMillion: "0.60" }\n');
    expect(message).to.include('prices[0].inputPerMillion');
    expect(message).to.include('quoted decimal');
  });

  it('refuses more than 6 decimal places, exponents and negative prices', () => {
    for (const bad of ['"0.0000001"', '"1e-6"', '"-1"', '"abc"']) {
      const message = problems(`  - { destination: openai, model: gpt-4o, inputPerMillion: ${bad}, outputPerMillion: "1" }\n`);
      expect(message).to.include('prices[0].inputPerMillion');
      expect(message).to.include('at most 6 places');
    }
  });

  it('refuses an unknown destination, naming the configured ones', () => {
    const message = problems('  - { destination: opneai, model: gpt-4o, inputPerMillion: "1", outputPerMillion: "1" }\n');
    expect(message).to.include('prices[0].destination');
    expect(message).to.include('unknown destination "opneai"; configured: openai, anthropic');
  });

  it('refuses a model pattern with "*" anywhere but the end', () => {
    const message = problems('  - { destination: openai, model: "gpt-*-mini", inputPerMillion: "1", outputPerMillion: "1" }\n');
    expect(message).to.include('prices[0].model');
    expect(message).to.include('prefix ending in "*"');
  });

  it('refuses the same pattern twice for one destination as ambiguous, not for two', () => {
    const message = problems(
      [
        '  - { destination: openai, model: "gpt-4o*", inputPerMillion: "1", outputPerMillion: "1" }',
        '  - { destination: anthropic, model: "gpt-4o*", inputPerMillion: "1", outputPerMillion: "1" }',
        '  - { destination: openai, model: "gpt-4o*", inputPerMillion: "2", outputPerMillion: "2" }',
        '',
      ].join('\n'),
    );
    expect(message).to.include('prices[2].model');
    expect(message).to.include('priced twice for destination "openai" (also prices[0])');
    expect(message).to.not.include('prices[1]');
  });

  it('refuses unknown keys and missing prices', () => {
    expect(problems('  - { destination: openai, model: gpt-4o, inputPerMillion: "1", outputPerMilion: "1" }\n')).to.include('outputPerMilion');
    expect(problems('  - { destination: openai, model: gpt-4o, inputPerMillion: "1" }\n')).to.include('prices[0].outputPerMillion');
  });
});

describe('estimateCost', () => {
  it('prices an estimate as uncached input and max_tokens of output, rounded up', () => {
    const table = compilePrices([price('openai', 'gpt-4o-mini*', '0.15', '0.60', '0.075'), price('openai', 'odd', '1', '2', '3')]);
    const mini = priceFor(table, 'openai', 'gpt-4o-mini')!;
    // 1000 × 0.15 + 500 × 0.60 per million = 0.00045 USD.
    expect(estimateCost(mini, 1000, 500)).to.deep.equal({ usd: '0.00045', micros: 450 });
    expect(estimateCost(mini, 1, 0)).to.deep.equal({ usd: '0.00000015', micros: 1 });
    // Never below the cost of any split of the same tokens between cached and not.
    const odd = priceFor(table, 'openai', 'odd')!;
    expect(estimateCost(odd, 1000, 0).micros).to.equal(costOf({ inputTokens: 1000, cachedInputTokens: 1000, outputTokens: 0 }, odd).micros);
    expect(estimateCost(mini, 1000, 0).micros).to.be.at.least(costOf({ inputTokens: 1000, cachedInputTokens: 999, outputTokens: 0 }, mini).micros);
  });
});
