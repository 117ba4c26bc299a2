/**
 * Usage metering, wired: the exchange each ExternalProcessor stream runs — bound to the
 * configuration in force when the stream opens, so a reload never splits one — and the
 * sinks its records go to, in order.
 */
import type { Runtime } from '../pipeline/runtime.ts';
import type { ResponseHeadFacts } from '../model/processing.ts';
import { Exchange, type ExchangeDeps } from '../usage/exchange.ts';
import { allUsageSinks, type UsageSink } from '../usage/record.ts';
import type { UsageApi, UsageMeter } from '../usage/types.ts';
import type { ProcessorOptions, StreamDrop } from './process-handler.ts';

export interface MeteringDeps {
  readonly runtime: () => Runtime;
  readonly meter: (api: UsageApi, head: ResponseHeadFacts) => UsageMeter;
  readonly cost: ExchangeDeps['cost'];
  readonly sinks: readonly UsageSink[];
  readonly dropped: (cause: StreamDrop) => void;
}

export function meteringProcessor(deps: MeteringDeps): ProcessorOptions {
  const record = allUsageSinks(deps.sinks);
  return {
    exchange: () => {
      const { destinations } = deps.runtime();
      return new Exchange({ apiOf: (name) => meteredApi(destinations.get(name)?.api), meter: deps.meter, cost: deps.cost, record });
    },
    dropped: deps.dropped,
  };
}

function meteredApi(api: string | undefined): UsageApi | undefined {
  return api === 'openai' || api === 'anthropic' ? api : undefined;
}
