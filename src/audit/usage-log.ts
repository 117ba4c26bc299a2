/**
 * The usage log: one JSON line per usage record, in the decision log's stream and shape,
 * the record under `usage` (what `keybroker usage` reads back):
 *
 *   {"level":30,"time":…,"service":"keybroker","usage":{"decisionId",…,"costUsd"?},"msg":"usage"}
 *
 * Identifiers and counts only; the cost as an exact decimal string, absent when unmetered
 * or the price is unknown.
 */
import type { Logger } from 'pino';
import type { UsageRecord, UsageSink } from '../usage/record.ts';
import { batchedLines } from './log-lines.ts';

const INFO = 30;

export interface UsageLog {
  readonly sink: UsageSink;
  flush(): void;
}

export function usageLog(log: Logger): UsageLog {
  if (!log.isLevelEnabled('info')) return { sink: () => {}, flush: () => {} };
  const lines = batchedLines(log);
  return {
    sink(record) {
      lines.write(`{"level":${INFO},"time":${Date.now()},"service":"keybroker","usage":${JSON.stringify(usageLine(record))},"msg":"usage"}\n`);
    },
    flush: lines.flush,
  };
}

/** The `usage` object of the line, its keys in the documented order. */
export function usageLine(record: UsageRecord): Record<string, string | number | boolean> {
  const line: Record<string, string | number | boolean> = { decisionId: record.decisionId, identity: record.identity };
  if (record.person !== undefined) line['person'] = record.person;
  line['destination'] = record.destination;
  line['api'] = record.api;
  if (record.model !== undefined) line['model'] = record.model;
  line['metered'] = record.metered;
  if (record.cause !== undefined) line['cause'] = record.cause;
  line['inputTokens'] = record.inputTokens;
  line['cachedInputTokens'] = record.cachedInputTokens;
  line['outputTokens'] = record.outputTokens;
  if (record.cost) line['costUsd'] = record.cost.usd;
  return line;
}
