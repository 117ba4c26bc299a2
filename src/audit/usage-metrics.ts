/**
 * Usage metrics, fed by a usage sink:
 *
 *   keybroker_gen_ai_tokens_total{destination,model,direction}   input | output | cached_input
 *   keybroker_cost_usd_total{destination,model}
 *   keybroker_usage_records_total{destination,metered}
 *   keybroker_usage_unmetered_total{destination,cause}
 *   keybroker_usage_streams_dropped_total{cause}                  streams with no record
 *
 * Labels stay bounded: destinations come from the configuration, and `model` is the
 * response's model only when the price table knows it (at most MODEL_LABELS of them),
 * else "other" — a provider can name any model, and every name would be a new series.
 * Per-identity totals are deliberately not labels (one series per agent and person would
 * grow without bound): they live in the usage spans and log lines, and in the limits
 * store (docs/metering.md).
 *
 * Costs are summed exactly (integer picodollars) and converted to a float only when
 * scraped, so millions of small costs do not drift.
 */
import type { Meter } from '@opentelemetry/api';
import type { UsageRecord, UsageSink } from '../usage/record.ts';
import { parseExactUsd } from '../usage/exact-usd.ts';

/** The most distinct model labels; later ones are counted as "other". */
export const MODEL_LABELS = 64;
const PICO = 10n ** 12n;

interface Series<A> {
  value: number;
  readonly attributes: A;
}

export interface UsageMetrics {
  readonly sink: UsageSink;
  /** A stream that ended without a usage record, by cause. */
  dropped(cause: string): void;
}

/** `priced(destination, model)`: whether the price table has a price for it. */
export function usageMetrics(meter: Meter, priced: (destination: string, model: string) => boolean): UsageMetrics {
  const tokens = new Map<string, Series<{ destination: string; model: string; direction: string }>>();
  const cost = new Map<string, { pico: bigint; attributes: { destination: string; model: string } }>();
  const records = new Map<string, Series<{ destination: string; metered: string }>>();
  const unmetered = new Map<string, Series<{ destination: string; cause: string }>>();
  const drops = new Map<string, Series<{ cause: string }>>();
  const models = new Set<string>();

  const observe = <A extends Record<string, string>>(name: string, description: string, series: Map<string, Series<A>>) =>
    meter.createObservableCounter(name, { description }).addCallback((result) => {
      for (const { value, attributes } of series.values()) result.observe(value, attributes);
    });
  observe('keybroker.gen_ai.tokens', 'Tokens providers reported, by destination, model and direction (cached_input is part of input)', tokens);
  observe('keybroker.usage.records', 'Usage records, by destination and whether the response was metered', records);
  observe('keybroker.usage.unmetered', 'Responses on metered routes whose use is unknown, by destination and cause', unmetered);
  observe('keybroker.usage.streams.dropped', 'Processing streams ended without a usage record, by cause', drops);
  meter.createObservableCounter('keybroker.cost.usd', { description: 'Cost of metered responses in USD, by destination and model (priced models only)' }).addCallback((result) => {
    for (const { pico, attributes } of cost.values()) result.observe(Number(pico) / Number(PICO), attributes);
  });

  const add = <A>(series: Map<string, Series<A>>, key: string, attributes: A, by = 1) => {
    const seen = series.get(key);
    if (seen) seen.value += by;
    else series.set(key, { value: by, attributes });
  };
  const modelLabel = (record: UsageRecord): string => {
    const model = record.model;
    if (model === undefined || !priced(record.destination, model)) return 'other';
    if (models.has(model)) return model;
    if (models.size >= MODEL_LABELS) return 'other';
    models.add(model);
    return model;
  };

  return {
    sink(record) {
      const { destination } = record;
      add(records, `${destination}/${record.metered}`, { destination, metered: String(record.metered) });
      if (!record.metered) {
        const cause = record.cause ?? 'unknown';
        add(unmetered, `${destination}/${cause}`, { destination, cause });
        return;
      }
      const model = modelLabel(record);
      const key = `${destination}/${model}`;
      for (const [direction, count] of [
        ['input', record.inputTokens],
        ['output', record.outputTokens],
        ['cached_input', record.cachedInputTokens],
      ] as const) {
        add(tokens, `${key}/${direction}`, { destination, model, direction }, count);
      }
      if (record.cost) {
        const seen = cost.get(key);
        const pico = parseExactUsd(record.cost.usd) ?? 0n;
        if (seen) seen.pico += pico;
        else cost.set(key, { pico, attributes: { destination, model } });
      }
    },
    dropped(cause) {
      add(drops, cause, { cause });
    },
  };
}
