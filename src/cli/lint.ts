/** `keybroker lint`: rules that cannot do what they say, grants that never apply, keys that are not there. */
import { loadConfigFile } from '../config/load.ts';
import { byPlace, lint, lintReachableKeys, type Finding } from '../review/lint.ts';
import { EXIT, parseOptions, required, type Command } from './command.ts';

export function formatFinding(f: Finding): string {
  return `${f.file}:${f.line ?? '?'}: ${f.severity} ${f.code}: ${f.message}`;
}

export const lintCommand: Command = {
  name: 'lint',
  summary: 'find rules that can never apply, shadowed grants, unreached destinations, missing keys',
  help: `usage: keybroker lint -c FILE [--json]

Checks a configuration (and every policy file it includes) for what is valid but
probably wrong. Each finding has a stable code and the file and line to go to:

  error    path-undeliverable     a rule path no request can have (refused before policy)
  warning  method-not-accepted    a rule method the destination's api never uses
  warning  method-without-body    a rule reading the body that names a method without one
  warning  grant-covered-by-deny  a grant every request of which a deny rule refuses
  warning  grant-duplicate        a grant identical in scope to an earlier one
  warning  grant-subsumed         a grant that allows nothing an earlier grant does not
  warning  destination-unreached  a destination no grant reaches
  error    key-missing            a key referenced but absent from the store
  warning  key-store-unreadable   the key store could not be read to check its keys
  warning  key-unreadable         a Vault key that could not be read to check it

Problems that make the file invalid (an identity in an unconfigured trust domain, an
unknown destination, a misspelt key) are reported as keybroker validate reports them.
Vault keys are read once each, within keys.timeout, when Vault can be reached.

options:
  -c, --config FILE   the configuration file
  --json              {"file","findings":[{"code","severity","file","line","message"}]}
  -h, --help          this text

exit codes: 0 no errors (warnings allowed), 1 an error finding or an invalid file, 2 usage`,
  async run(args, io) {
    const values = parseOptions(args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean', default: false } });
    required(values, 'config');
    const loaded = loadConfigFile(values.config);
    const findings = [...lint(loaded), ...(await lintReachableKeys(loaded))].sort(byPlace);
    if (values.json) io.out(JSON.stringify({ file: values.config, findings }));
    else {
      for (const f of findings) io.out(formatFinding(f));
      const errors = findings.filter((f) => f.severity === 'error').length;
      io.out(`${errors} error${errors === 1 ? '' : 's'}, ${findings.length - errors} warning${findings.length - errors === 1 ? '' : 's'}`);
    }
    return findings.some((f) => f.severity === 'error') ? EXIT.error : EXIT.ok;
  },
};
