/**
 * `keybroker explain`: runs the real Check pipeline on a described request and prints
 * the decision. Prints the key id that would be injected, never the key.
 */
import { loadConfigFile } from '../config/load.ts';
import { explainDecision, LIMITS_NOT_CHECKED, type ExplainQuery as DecisionQuery, type Explanation } from '../pipeline/explain.ts';
import { PHASES } from '../pipeline/check.ts';
import { buildRuntime, openKeyStore, releaseRuntime } from '../pipeline/runtime.ts';
import type { DecisionRecord } from '../model/check.ts';
import { KeyUnavailableError, type KeyStore } from '../credentials/store.ts';
import { Secret } from '../credentials/secret.ts';
import { didYouMean } from '../lib/suggest.ts';
import { KeyFileMissingError } from '../credentials/file-store.ts';
import { demoKeysHint } from './demo-paths.ts';
import { EXIT, parseOptions, required, UsageError, type Command } from './command.ts';
import { BODY_HELP, BODY_OPTIONS, bodyOptions, explainBody, givesBody, type BodyOptions } from './explain-body.ts';
import type { AdminApi } from '../admin/client.ts';
import { askServer, SERVER_HELP, SERVER_OPTIONS } from './remote.ts';

/** A request to explain, its body given as `--body` or described by `--model`, `--tool`, …. */
export type ExplainQuery = Omit<DecisionQuery, 'body'> & { readonly body?: BodyOptions | undefined };

/** Reasons that mean "the request names something this configuration does not know". */
const UNKNOWN_REASONS = new Set(['destination_unknown', 'destination_missing', 'trust_domain_unknown', 'identity_malformed']);

/** The destination is not configured: exit 4, listing the known ones. */
export class UnknownDestinationError extends Error {
  override readonly name = 'UnknownDestinationError';
  readonly code = 'ERR_UNKNOWN_DESTINATION';
}

export async function explain(configFile: string, query: ExplainQuery): Promise<Explanation> {
  const { config } = loadConfigFile(configFile);
  if (!(query.destination in config.destinations)) {
    const known = Object.keys(config.destinations);
    throw new UnknownDestinationError(`unknown destination "${query.destination}"${didYouMean(query.destination, known)} (configured: ${known.join(', ') || 'none'})`);
  }
  // Limits are not consulted: explaining must not spend anyone's budget (`keybroker limits show`).
  const phases = PHASES.filter((phase) => phase.name !== 'limit');
  const inject = config.destinations[query.destination]?.inject;
  const keys = openKeysForExplain(config.keys, typeof inject === 'object' && 'oauth2' in inject);
  const runtime = buildRuntime(config, { keys: keys.store, phases });
  try {
    const destination = runtime.destinations.get(query.destination);
    const body = query.body ? explainBody(query.body, destination?.api, query.destination) : undefined;
    const explanation = await explainDecision(runtime, { ...query, body });
    const { record } = explanation;
    return keys.notRead && record.keyId !== undefined && record.detail === undefined ? { ...explanation, record: { ...record, detail: keys.notRead } } : explanation;
  } finally {
    releaseRuntime(runtime);
  }
}

/**
 * A key file that does not exist yet (a fresh clone before `npm start`) must not hide the
 * policy's answer: policy needs no key, so the key is named by its reference alone, as
 * `keybroker test` names it (`file:openai/prod#not-read`), never read, and the record's
 * detail says why and which command creates the file. Not for a destination that
 * exchanges its key for an OAuth2 token: no stand-in is ever sent to a token endpoint, so
 * that one answers key_unavailable. `serve` still refuses to start without the file.
 */
function openKeysForExplain(keys: Parameters<typeof openKeyStore>[0], exchanges: boolean): { store: KeyStore; notRead?: string } {
  try {
    return { store: openKeyStore(keys) };
  } catch (error) {
    if (!(error instanceof KeyFileMissingError)) throw error;
    const why = `${error.message}${demoKeysHint(error.file)}`;
    const store: KeyStore = {
      kind: 'file',
      get: (ref) => {
        if (exchanges) throw new KeyUnavailableError(ref, why);
        // Whatever field a template names, it is there; the value is never shown or sent.
        return new Secret('file', ref, new AnyField(), { version: 'not-read', primary: 'value' });
      },
      close: () => undefined,
    };
    return { store, notRead: `key not read: ${why}` };
  }
}

/** The fields of a key that was not read: every name has the same stand-in value. */
class AnyField extends Map<string, string> {
  override get(): string {
    return 'not-read';
  }
}

/** Explain through the admin API; the answer in the same record shape as a local one. */
async function explainRemote(admin: AdminApi, query: Omit<ExplainQuery, 'body'>): Promise<Explanation> {
  const { decision } = await admin.Explain({ ...query, authority: query.authority ?? '' });
  if (!decision) throw new Error('the server answered no decision');
  const record: DecisionRecord = {
    decisionId: 'explain',
    decision: decision.decision === 'allow' ? 'allow' : 'deny',
    reason: decision.reason as DecisionRecord['reason'],
    status: decision.status,
    method: query.method.toUpperCase(),
    authority: query.authority ?? '',
    path: query.path,
    durationMs: 0,
  };
  const optional = { rule: decision.rule, policyVersion: decision.policy_version, identity: decision.identity, destination: decision.destination, keyId: decision.key_id, detail: decision.detail };
  for (const [name, value] of Object.entries(optional)) if (value) Object.assign(record, { [name]: value });
  return { record, shadow: decision.shadow || undefined, candidate: decision.candidate || undefined };
}

export function formatExplanation({ record, shadow, candidate }: Explanation): string {
  const rows: Array<[string, string | undefined]> = [
    ['decision', record.decision],
    ['reason', record.reason],
    ['rule', record.rule ?? '(none)'],
    ['policy version', record.policyVersion],
    ['identity', record.identity],
    ['destination', record.destination],
    ['path', record.path],
    ['model', record.model],
    ['mcp method', record.mcpMethod],
    ['tool', record.tool],
    ['key id', record.keyId ?? '(none)'],
    ['detail', record.detail],
    ['limits', LIMITS_NOT_CHECKED],
    // What shadow rules or the candidate policy would have answered, when there are any.
    ['shadow', shadow],
    ['candidate', candidate],
  ];
  return rows
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${`${name}:`.padEnd(16)}${value}`)
    .join('\n');
}

export const explainCommand: Command = {
  name: 'explain',
  summary: 'what keybroker would decide for a described request (runs the real Check)',
  help: `usage: keybroker explain (-c FILE | --server ADDR) --identity SPIFFE_ID --destination NAME [--method POST] --path PATH [--authority HOST]
                        [--body FILE | --model NAME --tool NAME… --mcp-method METHOD --max-tokens N --stream] [--json]

Runs the same pipeline as Check on a request described on the command line and prints
the decision, its reason, the rule that decided, the policy version and the id of the key
that would be injected (store:path#fingerprint), never the key. Limits are not checked:
explain never takes from an identity's rate limits or budgets.

options:
  -c, --config FILE       the configuration file
${SERVER_HELP}
                          (--server: the running configuration; no body options)
  --identity SPIFFE_ID    the agent's identity, as Envoy would have verified it (mTLS)
  --destination NAME      the destination the Envoy route names
  --method METHOD         the HTTP method (default POST)
  --path PATH             the path as the agent sends it (/openai/v1/chat/completions),
                          a full URL, or the path after the route prefix (/v1/chat/completions)
  --authority HOST        the :authority (default: the URL's host, else the upstream)
${BODY_HELP}
  --json                  print the decision record as JSON
  -h, --help              this text

exit codes: 0 allow, 3 deny, 4 unknown destination or identity, 2 usage, 1 config error`,
  async run(args, io) {
    const values = parseOptions(args, {
      config: { type: 'string', short: 'c' },
      identity: { type: 'string' },
      destination: { type: 'string' },
      method: { type: 'string', default: 'POST' },
      path: { type: 'string' },
      authority: { type: 'string' },
      ...BODY_OPTIONS,
      json: { type: 'boolean', default: false },
      ...SERVER_OPTIONS,
    });
    required(values, 'identity', 'destination', 'path');
    if (!values.server) required(values, 'config');
    let explanation: Explanation;
    try {
      const body = bodyOptions(values);
      if (values.server && givesBody(body)) throw new UsageError('--server explains without a body: the admin API takes none (drop --body, --model, --tool…)');
      const query = { identity: values.identity, destination: values.destination, path: values.path, authority: values.authority, method: values.method ?? 'POST' };
      explanation = values.server ? await askServer({ ...values, server: values.server }, (admin) => explainRemote(admin, query)) : await explain(values.config!, { ...query, body });
    } catch (error) {
      if (!(error instanceof UnknownDestinationError)) throw error;
      if (values.json) io.out(JSON.stringify({ decision: 'unknown', reason: 'destination_unknown', detail: error.message }));
      else io.err(`keybroker explain: ${error.message}`);
      return EXIT.unknown;
    }
    const { record } = explanation;
    if (values.json) io.out(JSON.stringify(record));
    else io.out(formatExplanation(explanation));
    if (record.decision === 'allow') return EXIT.ok;
    return UNKNOWN_REASONS.has(record.reason) ? EXIT.unknown : EXIT.deny;
  },
};
