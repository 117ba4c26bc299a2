/** Policy test results as JUnit XML, the format CI systems read. */
import type { CaseResult } from './run-cases.ts';

export function junitXml(suite: string, results: readonly CaseResult[]): string {
  const failures = results.filter((r) => r.mismatches.length > 0).length;
  const cases = results.map((r) => {
    const open = `    <testcase classname="${xml(suite)}" name="${xml(r.case.name)}" time="${(r.record.durationMs / 1000).toFixed(6)}"`;
    if (r.mismatches.length === 0) return `${open}/>`;
    const detail = [...r.mismatches, `decided by: ${r.record.rule ?? '(no rule)'}${r.ruleAt ? ` (${r.ruleAt})` : ''}`, ...(r.record.detail ? [`detail: ${r.record.detail}`] : [])].join('\n');
    return `${open}>\n      <failure message="${xml(r.mismatches.join('; '))}">${xml(detail)}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${results.length}" failures="${failures}">`,
    `  <testsuite name="${xml(suite)}" tests="${results.length}" failures="${failures}" errors="0" skipped="0">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text for XML: markup escaped, characters XML 1.0 cannot carry dropped. */
function xml(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '').replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}
