/**
 * Sums usage records per group (agent, person, destination, model, or several), over a
 * time range: requests, metered and unmetered, tokens, and the exact cost. A metered call
 * without a price is counted as `unpriced`, so a total never silently leaves it out.
 */
import { formatExactUsd } from './exact-usd.ts';
import { parseUsageLine, type UsageLine } from './log-line.ts';

export const GROUPINGS = ['agent', 'person', 'destination', 'model'] as const;
export type Grouping = (typeof GROUPINGS)[number];

export interface SummaryOptions {
  readonly by: readonly Grouping[];
  /** Inclusive, ms since the epoch. */
  readonly from?: number | undefined;
  /** Exclusive, ms since the epoch. */
  readonly to?: number | undefined;
}

export interface Totals {
  requests: number;
  metered: number;
  unmetered: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  costPicos: bigint;
  /** Metered requests whose cost is unknown (no price for their model). */
  unpriced: number;
}

export interface SummaryGroup {
  readonly key: Readonly<Partial<Record<Grouping, string>>>;
  readonly totals: Totals;
}

export interface Summary {
  readonly groups: SummaryGroup[];
  readonly total: Totals;
  /** Lines that claimed to be usage records but were not readable as one. */
  readonly malformed: number;
}

const emptyTotals = (): Totals => ({ requests: 0, metered: 0, unmetered: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costPicos: 0n, unpriced: 0 });

function keyOf(line: UsageLine, g: Grouping): string {
  switch (g) {
    case 'agent':
      return line.identity;
    case 'person':
      return line.person ?? '-';
    case 'destination':
      return line.destination;
    case 'model':
      return line.model ?? '-';
  }
}

function add(t: Totals, line: UsageLine): void {
  t.requests++;
  if (line.metered) t.metered++;
  else t.unmetered++;
  t.inputTokens += line.inputTokens;
  t.cachedInputTokens += line.cachedInputTokens;
  t.outputTokens += line.outputTokens;
  if (line.costPicos !== undefined) t.costPicos += line.costPicos;
  else if (line.metered) t.unpriced++;
}

export async function summarizeUsage(lines: AsyncIterable<string> | Iterable<string>, options: SummaryOptions): Promise<Summary> {
  const groups = new Map<string, SummaryGroup>();
  const total = emptyTotals();
  let malformed = 0;
  for await (const text of lines) {
    const line = parseUsageLine(text);
    if (line === 'other') continue;
    if (line === 'malformed') {
      malformed++;
      continue;
    }
    if (options.from !== undefined && line.time < options.from) continue;
    if (options.to !== undefined && line.time >= options.to) continue;
    const parts = options.by.map((g) => [g, keyOf(line, g)] as const);
    const id = JSON.stringify(parts);
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { key: Object.fromEntries(parts), totals: emptyTotals() }));
    add(group.totals, line);
    add(total, line);
  }
  const sorted = [...groups.values()].sort((a, b) => {
    const cost = b.totals.costPicos - a.totals.costPicos;
    if (cost !== 0n) return cost > 0n ? 1 : -1;
    if (b.totals.requests !== a.totals.requests) return b.totals.requests - a.totals.requests;
    return JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1;
  });
  return { groups: sorted, total, malformed };
}

/** Totals as JSON: the cost an exact decimal string. */
export function totalsJson(t: Totals): Record<string, number | string> {
  const { costPicos, ...counts } = t;
  return { ...counts, costUsd: formatExactUsd(costPicos) };
}
