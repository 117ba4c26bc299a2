/**
 * Running policy test cases through the real pipeline (offline-check.ts), each outcome
 * compared with what the case expects.
 */
import type { LoadedConfig } from '../config/load.ts';
import type { DecisionRecord } from '../model/check.ts';
import type { PolicyTestCase } from './cases.ts';
import { offlineCheck } from './offline-check.ts';

export interface CaseResult {
  readonly case: PolicyTestCase;
  readonly record: DecisionRecord;
  /** Empty when the case passed; else what differs, one line each. */
  readonly mismatches: readonly string[];
  /** Where the deciding rule is written, when a rule decided. */
  readonly ruleAt: string | undefined;
}

export async function runCases(loaded: LoadedConfig, cases: readonly PolicyTestCase[]): Promise<CaseResult[]> {
  const check = offlineCheck(loaded.config);
  const ruleAt = new Map(
    loaded.config.policy.map((rule, i) => {
      const origin = loaded.origins.policy[i];
      return [rule.id, origin ? `${origin.file}:${origin.line ?? '?'}` : undefined] as const;
    }),
  );
  try {
    const results: CaseResult[] = [];
    for (const c of cases) {
      const record = await check.decide(c.request);
      results.push({ case: c, record, mismatches: mismatches(c, record), ruleAt: record.rule ? ruleAt.get(record.rule) : undefined });
    }
    return results;
  } finally {
    check.close();
  }
}

function mismatches(c: PolicyTestCase, record: DecisionRecord): string[] {
  const out: string[] = [];
  if (record.decision !== c.expect.decision) out.push(`decision: expected ${c.expect.decision}, got ${record.decision}`);
  if (c.expect.reason !== undefined && record.reason !== c.expect.reason) out.push(`reason: expected ${c.expect.reason}, got ${record.reason}`);
  if (c.expect.rule !== undefined && record.rule !== c.expect.rule) out.push(`rule: expected ${c.expect.rule}, got ${record.rule ?? '(none)'}`);
  return out;
}
