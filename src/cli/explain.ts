/**
 * `keybroker explain`: runs the real Check pipeline on a described request and prints
 * the decision. Prints the key id that would be injected, never the key.
 */
import { pino } from 'pino';
import { loadConfigFile } from '../config/load.ts';
import { createCheck } from '../pipeline/check.ts';
import { buildRuntime } from '../pipeline/runtime.ts';
import type { DecisionRecord } from '../pipeline/types.ts';

export interface ExplainQuery {
  readonly identity: string;
  readonly destination: string;
  readonly method: string;
  /** The path as the provider sees it (after the route prefix). */
  readonly path: string;
}

export async function explain(configFile: string, query: ExplainQuery): Promise<DecisionRecord> {
  const { config } = loadConfigFile(configFile);
  const runtime = buildRuntime(config);
  try {
    const destination = runtime.destinations.get(query.destination);
    let record: DecisionRecord | undefined;
    const check = createCheck({ runtime: () => runtime, audit: { record: (r) => (record = r) }, log: pino({ level: 'silent' }) });
    await check({
      decisionId: 'explain',
      method: query.method.toUpperCase(),
      authority: destination?.upstream ?? '',
      path: (destination?.routePrefix ?? '') + query.path,
      headers: new Map(),
      sourcePrincipal: query.identity,
      sourceCertificate: '',
      contextExtensions: new Map([['destination', query.destination]]),
    });
    return record as DecisionRecord;
  } finally {
    runtime.keys.close();
    runtime.tokens.close();
  }
}

export function formatExplanation(record: DecisionRecord): string {
  const rows: Array<[string, string | undefined]> = [
    ['decision', record.decision],
    ['reason', record.reason],
    ['rule', record.rule ?? '(none)'],
    ['policy version', record.policyVersion],
    ['identity', record.identity],
    ['destination', record.destination],
    ['key id', record.keyId ?? '(none)'],
    ['detail', record.detail],
  ];
  return rows
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${`${name}:`.padEnd(16)}${value}`)
    .join('\n');
}
