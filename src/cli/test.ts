/** `keybroker test`: policy unit tests, run through the real pipeline without the network. */
import { writeFileSync } from 'node:fs';
import { loadConfigFile } from '../config/load.ts';
import { ConfigError } from '../config/errors.ts';
import { loadCases, type PolicyTestCase } from '../review/cases.ts';
import type { Api } from '../model/body.ts';
import { BODY_HELP, BODY_OPTIONS, bodyOptions, explainBody, givesBody, type BodyOptions } from './explain-body.ts';
import { junitXml } from '../review/junit.ts';
import { runCases, type CaseResult } from '../review/run-cases.ts';
import { EXIT, parseOptions, required, UsageError, type Command } from './command.ts';

export const testCommand: Command = {
  name: 'test',
  summary: 'run policy test cases through the real Check pipeline, offline',
  help: `usage: keybroker test -c FILE CASES.yaml [--junit OUT.xml]
                     [--body FILE | --model NAME --tool NAME… --mcp-method METHOD --max-tokens N --stream]

Runs every case in CASES.yaml through the same phases as Check (route, inspect, authorize,
limit), with the identity taken as proven and keys resolved to their reference only: no key
store, token endpoint or bundle URL is contacted. Prints each failure with the rule that
decided and where it is written.

A case:
  - name: research may chat                      # unique
    identity: spiffe://demo.local/agent/research
    proof: x509-svid                             # or jwt-svid, kubernetes (default x509-svid)
    destination: openai
    method: POST
    path: /v1/chat/completions                   # after the route prefix, as policy paths
    person: { sub: alice, groups: [ml] }         # optional: a verified person
    body: { model: gpt-4o-mini }                 # optional: a JSON body, for body rules
    expect: { decision: allow, reason: allowed, rule: research-agents-openai }   # reason, rule optional

A body given on the command line is the body of every case that gives none (a body
described by --model, --tool… only where the case's destination declares an api): to see
which cases a request for another model or tool would change.

options:
  -c, --config FILE       the configuration file
  --junit OUT.xml         also write the results as JUnit XML
${BODY_HELP}
  -h, --help              this text

exit codes: 0 every case passed, 1 a case failed, 2 usage or an invalid config or cases file`,
  async run(args, io) {
    const { values, files } = parseTestArgs(args);
    required(values, 'config');
    let results: CaseResult[];
    try {
      const loaded = loadConfigFile(values.config);
      const body = bodyOptions(values);
      const cases = loadCases(files).map((c) => (c.request.body !== undefined || !givesBody(body) ? c : withBody(c, body, loaded.config.destinations[c.request.destination]?.api)));
      results = await runCases(loaded, cases);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      io.err(error.message);
      return EXIT.usage;
    }
    for (const r of results) {
      if (r.mismatches.length === 0) {
        io.out(`ok    ${r.case.name}`);
        continue;
      }
      io.out(`FAIL  ${r.case.name} (${files}:${r.case.line ?? '?'})`);
      for (const m of r.mismatches) io.out(`        ${m}`);
      io.out(`        decided by: ${r.record.rule ? `rule ${r.record.rule}${r.ruleAt ? ` (${r.ruleAt})` : ''}` : 'no rule'}, reason ${r.record.reason}`);
      if (r.record.detail && r.record.decision === 'deny') io.out(`        detail: ${r.record.detail}`);
    }
    const failed = results.filter((r) => r.mismatches.length > 0).length;
    io.out(`${results.length - failed} passed, ${failed} failed`);
    if (values.junit) writeFileSync(values.junit, junitXml(`keybroker policy tests (${files})`, results));
    return failed > 0 ? EXIT.error : EXIT.ok;
  },
};

/** The case with the body the options give, for its destination's api. */
function withBody(c: PolicyTestCase, options: BodyOptions, api: Api | undefined): PolicyTestCase {
  if (options.body === undefined && !api) return c;
  return { ...c, request: { ...c.request, body: explainBody(options, api, c.request.destination) } };
}

const TAKES_VALUE = ['-c', '--config', '--junit', '--body', '--model', '--tool', '--mcp-method', '--max-tokens'];

function parseTestArgs(args: readonly string[]) {
  const positional = args.filter((a, i) => !a.startsWith('-') && !TAKES_VALUE.includes(args[i - 1] ?? ''));
  const values = parseOptions(
    args.filter((a) => !positional.includes(a)),
    { config: { type: 'string', short: 'c' }, junit: { type: 'string' }, ...BODY_OPTIONS },
  );
  if (positional.length !== 1) throw new UsageError(positional.length === 0 ? 'name the cases file (CASES.yaml)' : `one cases file, not ${positional.length}`);
  return { values, files: positional[0] as string };
}
