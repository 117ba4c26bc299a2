/** `keybroker reload --server ADDR`: re-read the configuration of a running keybroker. */
import { EXIT, parseOptions, required, type Command } from './command.ts';
import { askServer, SERVER_HELP, SERVER_OPTIONS } from './remote.ts';

export const reloadCommand: Command = {
  name: 'reload',
  summary: 'make a running keybroker re-read its configuration, or say why it refused (admin API)',
  help: `usage: keybroker reload --server ADDR [--json]

Asks a running keybroker through its admin API to read its configuration file again. A
configuration that does not validate whole is rejected with its errors, and the last good
one stays in force (as with SIGHUP).

options:
${SERVER_HELP}
  --json                  print the answer as JSON
  -h, --help              this text

exit codes: 0 applied, 1 rejected or the server could not be asked, 2 usage`,
  async run(args, io) {
    const values = parseOptions(args, { ...SERVER_OPTIONS, json: { type: 'boolean', default: false } });
    required(values, 'server');
    const result = await askServer(values, (admin) => admin.Reload({}));
    if (values.json) io.out(JSON.stringify(result));
    else if (result.applied) io.out(`applied: policy ${result.policy_version}`);
    else io.err(`rejected; policy ${result.policy_version} stays in force:\n${result.errors.join('\n')}`);
    return result.applied ? EXIT.ok : EXIT.error;
  },
};
