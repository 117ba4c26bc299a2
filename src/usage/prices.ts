/**
 * The price table, and the exact cost of a call. A model's price for a destination is
 * found by precedence, most specific first: the exact model name, then the longest prefix
 * pattern ("gpt-4o-mini*" before "gpt-4o*" before "*"). The schema refuses a pattern
 * given twice for one destination, so every model has at most one price. A response
 * without a model, or a model no pattern covers, has no price: its cost is unknown, never
 * guessed.
 *
 * Cost = (input − cached) × input price + cached × cached price + output × output price,
 * each price per million tokens. With prices in micro-dollars per million tokens, one
 * token costs a whole number of pico-dollars, so the cost is exact (exact-usd.ts): no
 * rounding at all in `usd`; `micros`, for limits, is rounded up to the next micro-dollar.
 */
import { parseUsd } from '../limit/money.ts';
import { formatExactUsd, microsOf } from './exact-usd.ts';
import type { PriceConfig } from './prices-schema.ts';
import type { TokenCounts } from './types.ts';

export interface Price {
  readonly destination: string;
  /** The pattern that matched, as configured. */
  readonly model: string;
  /** Micro-dollars per million tokens. */
  readonly inputPerMillion: number;
  readonly cachedInputPerMillion: number;
  readonly outputPerMillion: number;
}

interface DestinationPrices {
  readonly exact: ReadonlyMap<string, Price>;
  /** Prefix patterns, longest first (the prefix without its "*"). */
  readonly prefixes: ReadonlyArray<readonly [string, Price]>;
}

export interface PriceTable {
  readonly destinations: ReadonlyMap<string, DestinationPrices>;
}

export interface Cost {
  /** The exact cost in USD, as a decimal string ("0.000375"). */
  readonly usd: string;
  /** Whole micro-dollars, rounded up: what a limit charges. */
  readonly micros: number;
}

function micros(text: string): number {
  const value = parseUsd(text);
  // The schema accepted only values parseUsd reads: a failure here is a bug, not input.
  if (value === undefined) throw new Error(`price "${text}" is not a decimal with at most 6 places`);
  return value;
}

export function compilePrices(prices: readonly PriceConfig[] | undefined): PriceTable {
  const byDestination = new Map<string, { exact: Map<string, Price>; prefixes: [string, Price][] }>();
  for (const p of prices ?? []) {
    const price: Price = {
      destination: p.destination,
      model: p.model,
      inputPerMillion: micros(p.inputPerMillion),
      cachedInputPerMillion: micros(p.cachedInputPerMillion ?? p.inputPerMillion),
      outputPerMillion: micros(p.outputPerMillion),
    };
    let entry = byDestination.get(p.destination);
    if (!entry) byDestination.set(p.destination, (entry = { exact: new Map(), prefixes: [] }));
    if (p.model.endsWith('*')) entry.prefixes.push([p.model.slice(0, -1), price]);
    else entry.exact.set(p.model, price);
  }
  for (const entry of byDestination.values()) entry.prefixes.sort((a, b) => b[0].length - a[0].length);
  return { destinations: byDestination };
}

export function priceFor(table: PriceTable, destination: string, model: string | undefined): Price | undefined {
  if (model === undefined) return undefined;
  const entry = table.destinations.get(destination);
  if (!entry) return undefined;
  return entry.exact.get(model) ?? entry.prefixes.find(([prefix]) => model.startsWith(prefix))?.[1];
}

/** The exact cost in pico-dollars. */
export function costPicos(tokens: TokenCounts, price: Price): bigint {
  const uncached = BigInt(tokens.inputTokens - tokens.cachedInputTokens);
  return uncached * BigInt(price.inputPerMillion) + BigInt(tokens.cachedInputTokens) * BigInt(price.cachedInputPerMillion) + BigInt(tokens.outputTokens) * BigInt(price.outputPerMillion);
}

export function costOf(tokens: TokenCounts, price: Price): Cost {
  const picos = costPicos(tokens, price);
  return { usd: formatExactUsd(picos), micros: microsOf(picos) };
}

/**
 * What a call may cost at most, before it is made — for a limit's reservation: the input
 * estimate priced as if none of it were cached (or all, if cached input were dearer), the
 * output at the request's `max_tokens`. Rounded up like `costOf`.
 */
export function estimateCost(price: Price, inputTokens: number, outputTokens: number): Cost {
  const dearer = Math.max(price.inputPerMillion, price.cachedInputPerMillion);
  return costOf({ inputTokens, cachedInputTokens: 0, outputTokens }, { ...price, inputPerMillion: dearer });
}
