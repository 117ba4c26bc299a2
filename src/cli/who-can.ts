/**
 * `keybroker who-can`: the grants that let someone call a destination, and the deny rules
 * beside them — from a configuration file, or from a running keybroker (--server) —
 * answered from the compiled policy Check decides with.
 */
import { loadConfigFile } from '../config/load.ts';
import { compileConfigPolicy } from '../pipeline/runtime.ts';
import { whoCan } from '../policy/access-review.ts';
import { reviewMessage, type ReviewMessage } from '../admin/review-message.ts';
import type { Grant__Output } from '../api/generated/keybroker/admin/v1/Grant.ts';
import { EXIT, parseOptions, required, UsageError, type Command, type Io } from './command.ts';
import { BODY_HELP, BODY_OPTIONS, bodyFactsOf, bodyOptions, givesBody } from './explain-body.ts';
import { askServer, SERVER_HELP, SERVER_OPTIONS } from './remote.ts';

export const whoCanCommand: Command = {
  name: 'who-can',
  summary: 'the identities (and person groups) that may call a destination, rule by rule',
  help: `usage: keybroker who-can (-c FILE | --server ADDR) --destination NAME [--method M] [--path P]
                        [--body FILE | --model NAME --tool NAME… --mcp-method METHOD --max-tokens N --stream] [--json]

Lists the grants that allow calling the destination (with that method and path, if given),
each with its rule, identity patterns, methods, paths, person requirement and what it asks
of the body, and the deny rules for the same requests, which beat any grant. Given a body
(or one described), only the grants whose body conditions it meets, and the deny rules
whose body conditions pick it out.

options:
  -c, --config FILE       the configuration file
${SERVER_HELP}
                          (--server: the running configuration; no body options)
  --destination NAME      the destination
  --method M, --path P    only grants that allow this method, this path (after the prefix)
${BODY_HELP}
  --json                  print the answer as JSON
  -h, --help              this text

exit codes: 0 answered, 1 configuration or server error, 2 usage`,
  async run(args, io) {
    const values = parseOptions(args, {
      config: { type: 'string', short: 'c' },
      destination: { type: 'string' },
      method: { type: 'string' },
      path: { type: 'string' },
      ...BODY_OPTIONS,
      json: { type: 'boolean', default: false },
      ...SERVER_OPTIONS,
    });
    required(values, 'destination');
    const method = values.method?.toUpperCase();
    const body = bodyOptions(values);
    let answer: ReviewMessage;
    if (values.server) {
      if (givesBody(body)) throw new UsageError('--server answers without a body: the admin API takes none (drop --body, --model, --tool…)');
      answer = await askServer({ ...values, server: values.server }, (admin) => admin.WhoCan({ destination: values.destination, method: method ?? '', path: values.path ?? '' }));
    } else {
      required(values, 'config');
      const { config } = loadConfigFile(values.config);
      const facts = bodyFactsOf(body, config.destinations[values.destination]?.api, values.destination, values.path ?? '');
      const policy = compileConfigPolicy(config);
      answer = reviewMessage(whoCan(policy, { destination: values.destination, method, path: values.path, body: facts }), policy.version);
    }
    printReview(answer, values.json, io);
    return EXIT.ok;
  },
};

export function printReview(review: ReviewMessage, json: boolean, io: Io): void {
  if (json) {
    io.out(JSON.stringify(review));
    return;
  }
  io.out(`policy version: ${review.policy_version}`);
  const line = (kind: string, g: Grant__Output) =>
    `${kind} ${g.rule}: ${g.identities.join(', ')} → ${g.destinations.join(', ')} ${g.methods.length ? g.methods.join(',') : '*'} ${g.paths.length ? g.paths.join(' ') : '*'}` +
    (g.person_required ? ` (person${g.person_groups.length ? ` in ${g.person_groups.join(', ')}` : ''}${kind === 'allow' ? '' : ', or no person'})` : '') +
    (g.conditions.length ? ` [${g.conditions.join('; ')}]` : '');
  if (review.grants.length === 0) io.out('no grant');
  for (const g of review.grants) io.out(line('allow', g));
  for (const g of review.denials) io.out(line('deny ', g));
}
