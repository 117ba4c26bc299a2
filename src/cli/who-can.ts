/**
 * `keybroker who-can`: the grants that let someone call a destination, and the deny rules
 * beside them — from a configuration file, or from a running keybroker (--server).
 */
import { loadConfigFile } from '../config/load.ts';
import { compilePolicy } from '../policy/compile.ts';
import { whoCan, type AccessReview } from '../policy/access-review.ts';
import { EXIT, parseOptions, required, type Command, type Io } from './command.ts';
import { askServer, SERVER_HELP, SERVER_OPTIONS } from './remote.ts';
import type { Grant__Output } from '../api/generated/keybroker/admin/v1/Grant.ts';

export const whoCanCommand: Command = {
  name: 'who-can',
  summary: 'the identities (and person groups) that may call a destination, rule by rule',
  help: `usage: keybroker who-can (-c FILE | --server ADDR) --destination NAME [--method M] [--path P] [--json]

Lists the grants that allow calling the destination (with that method and path, if given),
each with its rule, identity patterns, methods, paths and person requirement, and the
deny rules for the same requests, which beat any grant.

options:
  -c, --config FILE       the configuration file
${SERVER_HELP}
  --destination NAME      the destination
  --method M, --path P    only grants that allow this method, this path (after the prefix)
  --json                  print the answer as JSON
  -h, --help              this text

exit codes: 0 answered, 1 configuration or server error, 2 usage`,
  async run(args, io) {
    const values = parseOptions(args, {
      config: { type: 'string', short: 'c' },
      destination: { type: 'string' },
      method: { type: 'string' },
      path: { type: 'string' },
      json: { type: 'boolean', default: false },
      ...SERVER_OPTIONS,
    });
    required(values, 'destination');
    const method = values.method?.toUpperCase();
    let answer: Review;
    if (values.server) {
      answer = await askServer({ ...values, server: values.server }, (admin) => admin.WhoCan({ destination: values.destination, method: method ?? '', path: values.path ?? '' }));
    } else {
      required(values, 'config');
      const { config } = loadConfigFile(values.config);
      answer = asMessage(
        whoCan(config.policy, { destination: values.destination, method, path: values.path }),
        compilePolicy(config.policy, { destinations: config.destinations, policy: config.policy }).version,
      );
    }
    printReview(answer, values.json, io);
    return EXIT.ok;
  },
};

export interface Review {
  readonly grants: readonly Grant__Output[];
  readonly denials: readonly Grant__Output[];
  readonly policy_version: string;
}

/** A local review in the admin API's shape, so both print alike. */
export function asMessage(review: AccessReview, policyVersion: string): Review {
  const grant = (r: AccessReview['grants'][number]): Grant__Output => ({
    rule: r.rule,
    identities: [...r.identities],
    destinations: [...r.destinations],
    methods: [...r.methods],
    paths: [...r.paths],
    person_required: r.personRequired,
    person_groups: [...r.personGroups],
  });
  return { grants: review.grants.map(grant), denials: review.denials.map(grant), policy_version: policyVersion };
}

export function printReview(review: Review, json: boolean, io: Io): void {
  if (json) {
    io.out(JSON.stringify(review));
    return;
  }
  io.out(`policy version: ${review.policy_version}`);
  const line = (kind: string, g: Grant__Output) =>
    `${kind} ${g.rule}: ${g.identities.join(', ')} → ${g.destinations.join(', ')} ${g.methods.length ? g.methods.join(',') : '*'} ${g.paths.length ? g.paths.join(' ') : '*'}` +
    (g.person_required ? ` (person${g.person_groups.length ? ` in ${g.person_groups.join(', ')}` : ''})` : '');
  if (review.grants.length === 0) io.out('no grant');
  for (const g of review.grants) io.out(line('allow', g));
  for (const g of review.denials) io.out(line('deny ', g));
}
