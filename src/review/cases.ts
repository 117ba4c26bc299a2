/**
 * A policy test file: cases, each a described request and the decision it must get.
 *
 *   cases:
 *     - name: research may chat
 *       identity: spiffe://demo.local/agent/research
 *       destination: openai
 *       method: POST
 *       path: /v1/chat/completions
 *       expect: { decision: allow, rule: research-agents-openai }
 */
import { z } from 'zod';
import { ConfigError, formatPath } from '../config/errors.ts';
import { lineIn, readYamlSource } from '../config/policy-files.ts';
import { REASONS } from '../lib/denial.ts';
import type { DescribedRequest } from './offline-check.ts';

const nonEmpty = z.string().min(1, 'must not be empty');
const reason = z.enum([...(Object.keys(REASONS) as Array<keyof typeof REASONS>), 'allowed']);

const testCase = z.strictObject({
  name: nonEmpty,
  identity: nonEmpty,
  /** How the identity is proven: an mTLS X.509-SVID (default), a JWT-SVID or a Kubernetes token. */
  proof: z.enum(['x509-svid', 'jwt-svid', 'kubernetes']).optional(),
  destination: nonEmpty,
  method: z.string().regex(/^[A-Z]+$/, 'expected an upper-case HTTP method such as "POST"'),
  path: z.string().regex(/^\/[^?#]*$/, 'expected the path after the route prefix, such as "/v1/chat/completions"'),
  person: z.strictObject({ sub: nonEmpty.default('person'), groups: z.array(nonEmpty).default([]) }).optional(),
  /** A JSON request body, for rules that read it. */
  body: z.unknown().optional(),
  expect: z.strictObject({ decision: z.enum(['allow', 'deny']), reason: reason.optional(), rule: nonEmpty.optional() }),
});

const casesFile = z.strictObject({ cases: z.array(testCase).min(1, 'list at least one case') });

export interface PolicyTestCase {
  readonly name: string;
  readonly line: number | undefined;
  readonly request: DescribedRequest;
  readonly expect: { readonly decision: 'allow' | 'deny'; readonly reason?: string | undefined; readonly rule?: string | undefined };
}

/** Throws ConfigError (file:line, path, what was expected) for a file that is not a valid cases file. */
export function loadCases(file: string): PolicyTestCase[] {
  const source = readYamlSource(file);
  const parsed = casesFile.safeParse(source.doc.toJS({ maxAliasCount: 50 }) ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      file,
      parsed.error.issues.flatMap((issue) =>
        (issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path]).map((path) => ({
          path: formatPath(path),
          line: lineIn(source, path),
          message: issue.code === 'unrecognized_keys' ? `unknown key "${String(path.at(-1))}"` : issue.message,
        })),
      ),
    );
  }
  const names = new Set<string>();
  const duplicates: Array<{ path: string; line: number | undefined; message: string }> = [];
  parsed.data.cases.forEach((c, i) => {
    if (names.has(c.name)) duplicates.push({ path: formatPath(['cases', i, 'name']), line: lineIn(source, ['cases', i, 'name']), message: `case name "${c.name}" is used twice` });
    names.add(c.name);
  });
  if (duplicates.length > 0) throw new ConfigError(file, duplicates);
  return parsed.data.cases.map((c, i) => ({
    name: c.name,
    line: lineIn(source, ['cases', i]),
    request: { identity: c.identity, proof: c.proof, destination: c.destination, method: c.method, path: c.path, person: c.person, body: c.body },
    expect: c.expect,
  }));
}
