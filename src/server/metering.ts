/**
 * Usage metering, wired: the exchange each ExternalProcessor stream runs — bound to the
 * configuration in force when the stream opens (its destinations and price table), so a
 * reload never splits one — and the sinks its records go to, in order.
 */
import type { Runtime } from '../pipeline/runtime.ts';
import type { ResponseHeadFacts } from '../model/processing.ts';
import { Exchange, type ExchangeDeps } from '../usage/exchange.ts';
import { createMeter } from '../usage/meter.ts';
import { costOf, priceFor } from '../usage/prices.ts';
import { allUsageSinks, type UsageSink } from '../usage/record.ts';
import type { UsageApi, UsageMeter } from '../usage/types.ts';
import type { ProcessorOptions, StreamDrop } from './process-handler.ts';

export interface MeteringDeps {
  readonly runtime: () => Runtime;
  /** How a response is read (default: the parsers, `usage/meter.ts`). */
  readonly meter?: (api: UsageApi, head: ResponseHeadFacts) => UsageMeter;
  /** How a reading is priced (default: the runtime's `prices:`). */
  readonly cost?: ExchangeDeps['cost'];
  readonly sinks: readonly UsageSink[];
  readonly dropped: (cause: StreamDrop) => void;
}

export function meteringProcessor(deps: MeteringDeps): ProcessorOptions {
  const record = allUsageSinks(deps.sinks);
  const meter = deps.meter ?? createMeter;
  return {
    exchange: () => {
      const { destinations, prices } = deps.runtime();
      const cost: ExchangeDeps['cost'] =
        deps.cost ??
        ((destination, model, tokens) => {
          const price = priceFor(prices, destination, model);
          return price ? costOf(tokens, price) : undefined;
        });
      return new Exchange({ apiOf: (name) => meteredApi(destinations.get(name)?.api), meter, cost, record });
    },
    dropped: deps.dropped,
  };
}

function meteredApi(api: string | undefined): UsageApi | undefined {
  return api === 'openai' || api === 'anthropic' ? api : undefined;
}
