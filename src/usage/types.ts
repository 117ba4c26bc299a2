/**
 * The contract between the usage parsers (what a provider's response says it used) and
 * the ext_proc side (which feeds them the response and records the reading). A reading is
 * either metered — the provider stated its token counts — or unmetered with the reason,
 * never guessed.
 */

/** The API family whose response shapes a meter understands (a destination's `api:`). */
export type UsageApi = 'openai' | 'anthropic';

/** inputTokens counts every input token, cached ones included; cachedInputTokens is the part read from the provider's prompt cache. */
export interface TokenCounts {
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
}

/**
 * Why a response could not be metered:
 * - `status`: the answer was not 200;
 * - `encoding`: a `content-encoding` other than identity (gzip, br…);
 * - `content_type`: neither JSON nor an event stream;
 * - `cut`: the stream ended before the provider's final usage;
 * - `no_usage`: a complete body that states no usage;
 * - `unparseable`: not valid JSON / SSE;
 * - `too_large`: a value the meter must read exceeded its bound.
 */
export type UnmeteredCause = 'status' | 'encoding' | 'content_type' | 'cut' | 'no_usage' | 'unparseable' | 'too_large';

export type UsageReading = { readonly metered: true; readonly tokens: TokenCounts; readonly model?: string } | { readonly metered: false; readonly cause: UnmeteredCause; readonly model?: string };

/** What the meter needs from the response headers. */
export interface ResponseHead {
  readonly status: number;
  readonly contentType?: string;
  readonly contentEncoding?: string;
}

/** Fed the response body chunk by chunk, in bounded memory; `end(complete)` with complete=false when the stream was cut. */
export interface UsageMeter {
  write(chunk: Uint8Array): void;
  end(complete: boolean): UsageReading;
  /** The reading is known from the headers alone (not 200, compressed, not JSON or SSE): the body need not be read. */
  readonly decided?: boolean;
}

// src/usage/meter.ts:   export function createMeter(api: UsageApi, head: ResponseHead): UsageMeter
// src/usage/prices.ts:  compilePrices(config.prices) → PriceTable; priceFor(table, destination, model) → Price | undefined;
//                       costOf(tokens, price) → { usd: string /* exact decimal */; micros: number /* whole µUSD, rounded up, for limits */ }
