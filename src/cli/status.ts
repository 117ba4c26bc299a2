/** `keybroker status --server ADDR`: what a running keybroker has in force. */
import { EXIT, parseOptions, required, type Command } from './command.ts';
import { askServer, SERVER_HELP, SERVER_OPTIONS } from './remote.ts';

export const statusCommand: Command = {
  name: 'status',
  summary: "a running keybroker's policy version, config hash, keys, bundles, listeners (admin API)",
  help: `usage: keybroker status --server ADDR [--json]

Asks a running keybroker through its admin API: the policy version and configuration hash
in force, each key's id, age and health (never its value), each bundle's key ids and age,
the listeners, the audit export counts and the reloads applied and rejected.

options:
${SERVER_HELP}
  --json                  print the answer as JSON
  -h, --help              this text

exit codes: 0 answered, 1 the server could not be asked, 2 usage`,
  async run(args, io) {
    const values = parseOptions(args, { ...SERVER_OPTIONS, json: { type: 'boolean', default: false } });
    required(values, 'server');
    const status = await askServer(values, (admin) => admin.Status({}));
    if (values.json) {
      io.out(JSON.stringify(status));
      return EXIT.ok;
    }
    io.out(`policy version: ${status.policy_version}`);
    io.out(`config:         ${status.config_file} (sha256 ${status.config_sha256.slice(0, 16)}…)`);
    io.out(`reloads:        ${status.reloads?.applied ?? 0} applied, ${status.reloads?.rejected ?? 0} rejected`);
    io.out(`audit:          ${status.audit?.tracing ? `tracing, ${status.audit.exported} exported, ${status.audit.dropped} dropped` : 'decision log only'}`);
    if (status.signing_key_id) io.out(`signing key:    ${status.signing_key_id}`);
    for (const l of status.listeners) io.out(`listener:       ${l.name} ${l.address} ${l.state}`);
    for (const k of status.keys) io.out(`key:            ${k.ref} ${k.health === 'ok' ? k.key_id : `UNAVAILABLE: ${k.error}`}`);
    for (const b of status.bundles) io.out(`bundle:         ${b.name} [${b.key_ids.join(', ')}] ${b.age_seconds < 0 ? 'never loaded' : `${Math.round(b.age_seconds)} s old`}`);
    return EXIT.ok;
  },
};
