/**
 * `keybroker can`: what one identity may do (destinations × methods × paths), and the
 * deny rules that name it — from a configuration file, or a running keybroker (--server) —
 * answered from the compiled policy Check decides with.
 */
import { loadConfigFile } from '../config/load.ts';
import { compileConfigPolicy } from '../pipeline/runtime.ts';
import { whatCan } from '../policy/access-review.ts';
import { reviewMessage, type ReviewMessage } from '../admin/review-message.ts';
import { EXIT, parseOptions, required, type Command } from './command.ts';
import { askServer, SERVER_HELP, SERVER_OPTIONS } from './remote.ts';
import { printReview } from './who-can.ts';

export const canCommand: Command = {
  name: 'can',
  summary: 'what an identity may do: its grants by destination, method and path',
  help: `usage: keybroker can (-c FILE | --server ADDR) --identity SPIFFE_ID [--destination NAME] [--json]

Lists the grants that name the identity (exactly or by a /* prefix), each with its
destinations, methods and paths, and the deny rules that name it, which beat any grant.

options:
  -c, --config FILE       the configuration file
${SERVER_HELP}
  --identity SPIFFE_ID    the agent's identity
  --destination NAME      only this destination
  --json                  print the answer as JSON
  -h, --help              this text

exit codes: 0 answered, 1 configuration or server error, 2 usage`,
  async run(args, io) {
    const values = parseOptions(args, {
      config: { type: 'string', short: 'c' },
      identity: { type: 'string' },
      destination: { type: 'string' },
      json: { type: 'boolean', default: false },
      ...SERVER_OPTIONS,
    });
    required(values, 'identity');
    let answer: ReviewMessage;
    if (values.server) {
      answer = await askServer({ ...values, server: values.server }, (admin) => admin.Can({ identity: values.identity, destination: values.destination ?? '' }));
    } else {
      required(values, 'config');
      const { config } = loadConfigFile(values.config);
      const policy = compileConfigPolicy(config);
      answer = reviewMessage(whatCan(policy, { identity: values.identity, destination: values.destination }), policy.version);
    }
    printReview(answer, values.json, io);
    return EXIT.ok;
  },
};
