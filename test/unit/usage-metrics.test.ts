/**
 * The usage metrics: tokens and exact costs by destination and model, unmetered causes and
 * dropped streams — with the model label bounded (unpriced models and those past the cap
 * are "other") and no identity among the labels.
 */
import { expect } from 'chai';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { MODEL_LABELS, usageMetrics } from '../../src/audit/usage-metrics.ts';
import type { UsageRecord } from '../../src/usage/record.ts';

class Reader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const record = (over: Partial<UsageRecord>): UsageRecord => ({
  decisionId: 'd',
  identity: 'spiffe://example.org/ns/research/agent',
  person: 'alice',
  destination: 'openai',
  api: 'openai',
  model: 'gpt-4o-mini',
  metered: true,
  inputTokens: 10,
  cachedInputTokens: 4,
  outputTokens: 3,
  cost: { usd: '0.0000001', micros: 1 },
  startTime: 0,
  endTime: 1,
  ...over,
});

async function series(reader: Reader): Promise<Map<string, Array<{ attributes: Record<string, unknown>; value: number }>>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, Array<{ attributes: Record<string, unknown>; value: number }>>();
  for (const scope of resourceMetrics.scopeMetrics)
    for (const metric of scope.metrics)
      out.set(
        metric.descriptor.name,
        metric.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value as number })),
      );
  return out;
}

describe('usage metrics', () => {
  it('sums tokens and costs exactly per destination and model, counts unmetered causes and dropped streams', async () => {
    const reader = new Reader();
    const metrics = usageMetrics(new MeterProvider({ readers: [reader] }).getMeter('t'), (_d, model) => model.startsWith('gpt-4o-mini'));
    // 0.1 + 0.2 in floating point is not 0.3; a million picodollar sums are.
    for (let i = 0; i < 3; i++) metrics.sink(record({ cost: { usd: ['0.1', '0.2', '0.3'][i]!, micros: 1 } }));
    metrics.sink(record({ model: 'unpriced-model', cost: undefined }));
    metrics.sink(record({ metered: false, cause: 'cut', inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, cost: undefined }));
    metrics.dropped('no_decision');
    const got = await series(reader);
    expect(got.get('keybroker.cost.usd')).to.deep.equal([{ attributes: { destination: 'openai', model: 'gpt-4o-mini' }, value: 0.6 }]);
    const tokens = got.get('keybroker.gen_ai.tokens')!;
    expect(tokens.find((s) => s.attributes['model'] === 'gpt-4o-mini' && s.attributes['direction'] === 'output')?.value).to.equal(9);
    expect(tokens.find((s) => s.attributes['model'] === 'other' && s.attributes['direction'] === 'input')?.value).to.equal(10);
    expect(got.get('keybroker.usage.unmetered')).to.deep.equal([{ attributes: { destination: 'openai', cause: 'cut' }, value: 1 }]);
    expect(got.get('keybroker.usage.streams.dropped')).to.deep.equal([{ attributes: { cause: 'no_decision' }, value: 1 }]);
    for (const points of got.values()) for (const p of points) expect(Object.keys(p.attributes)).to.not.include.members(['identity', 'person', 'enduser.id']);
  });

  it(`labels at most ${MODEL_LABELS} priced models; the rest are "other"`, async () => {
    const reader = new Reader();
    const metrics = usageMetrics(new MeterProvider({ readers: [reader] }).getMeter('t'), () => true);
    for (let i = 0; i < MODEL_LABELS + 10; i++) metrics.sink(record({ model: `model-${i}` }));
    const models = new Set((await series(reader)).get('keybroker.gen_ai.tokens')!.map((s) => s.attributes['model']));
    expect(models.size).to.equal(MODEL_LABELS + 1);
    expect(models.has('other')).to.equal(true);
  });
});
