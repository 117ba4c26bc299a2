/**
 * Reading a configuration file: YAML → schema → paths made absolute. Every problem names
 * the file, the path inside it and, where the YAML locates it, the line.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { configSchema, type BundleSourceConfig, type Config } from './schema.ts';
import { ConfigError, formatPath, type ConfigProblem } from './errors.ts';
import { knownKeysAt } from './known-keys.ts';
import { didYouMean } from '../lib/suggest.ts';

export interface LoadedConfig {
  readonly file: string;
  readonly config: Config;
}

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export function loadConfigFile(file: string): LoadedConfig {
  const absolute = resolve(file);
  let text: string;
  try {
    const bytes = readFileSync(absolute);
    if (bytes.length > MAX_CONFIG_BYTES) throw new Error(`larger than ${MAX_CONFIG_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (error) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(error as Error).message}` }]);
  }
  return { file: absolute, config: parseConfigText(text, file, dirname(absolute)) };
}

/** Parses and validates configuration text; `baseDir` anchors relative file paths. */
export function parseConfigText(text: string, file: string, baseDir: string): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', line: lines.linePos(e.pos[0]).line, message: `YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 50 });
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems: ConfigProblem[] = parsed.error.issues.flatMap((issue) =>
      // One problem per unknown key, located at the key itself.
      (issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path]).map((path) => ({
        path: formatPath(path),
        line: lineOf(doc, lines, path),
        message: issue.code === 'unrecognized_keys' ? unknownKeyMessage(path) : messageOf(issue),
      })),
    );
    throw new ConfigError(file, problems);
  }
  return anchorPaths(parsed.data, baseDir);
}

function unknownKeyMessage(path: readonly PropertyKey[]): string {
  const key = String(path.at(-1));
  const suggestion = didYouMean(key, knownKeysAt(configSchema, path.slice(0, -1)));
  return `unknown key "${key}"${suggestion || '; check its spelling'} (unknown keys are refused so that a typo never widens access)`;
}

/** A record key's issue says only "Invalid key in record"; what the key should be is inside it. */
function messageOf(issue: { code: string; message: string; issues?: ReadonlyArray<{ message: string }> }): string {
  const inner = issue.code === 'invalid_key' ? issue.issues?.[0]?.message : undefined;
  return inner ? `invalid name: ${inner}` : issue.message;
}

/** The line of the deepest node on `path` that exists in the document. */
function lineOf(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

function anchorPaths(config: Config, baseDir: string): Config {
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const listenAnchored = anchorListen(config.listen, at);
  const keys = anchorKeys(config.keys, at);
  const bundle = (b: BundleSourceConfig): BundleSourceConfig =>
    'file' in b ? { ...b, file: at(b.file) } : b.ca ? { ...b, ca: at(b.ca) } : b;
  const trust = Object.fromEntries(Object.entries(config.trust).map(([name, td]) => [name, td.bundle ? { ...td, bundle: bundle(td.bundle) } : td]));
  const issuers = config.issuers.map((issuer) => ({ ...issuer, jwks: bundle(issuer.jwks) }));
  const destinations = Object.fromEntries(
    Object.entries(config.destinations).map(([name, d]) => {
      const inject = d.inject;
      return [name, typeof inject === 'object' && 'oauth2' in inject && inject.oauth2.ca ? { ...d, inject: { oauth2: { ...inject.oauth2, ca: at(inject.oauth2.ca) } } } : d];
    }),
  );
  return { ...config, listen: listenAnchored, ...(config.admin ? { admin: { listen: anchorListen(config.admin.listen, at) } } : {}), ...(config.gatewayTokens ? { gatewayTokens: { ...config.gatewayTokens, listen: anchorTokenListen(config.gatewayTokens.listen, at) } } : {}), keys, trust, issuers, destinations };
}

function anchorTokenListen(listen: NonNullable<Config['gatewayTokens']>['listen'], at: (p: string) => string): NonNullable<Config['gatewayTokens']>['listen'] {
  if (typeof listen === 'string') return anchorUnixPath(listen, at);
  const tls = listen.tls ? { ...listen.tls, cert: at(listen.tls.cert), key: at(listen.tls.key), ...(listen.tls.clientCa ? { clientCa: at(listen.tls.clientCa) } : {}) } : undefined;
  return { ...listen, address: anchorUnixPath(listen.address, at), ...(tls ? { tls } : {}) };
}

function anchorListen(listen: Config['listen'], at: (p: string) => string): Config['listen'] {
  if (typeof listen === 'string') return anchorUnixPath(listen, at);
  const tls = listen.tls ? { ...listen.tls, cert: at(listen.tls.cert), key: at(listen.tls.key), clientCa: at(listen.tls.clientCa) } : undefined;
  return { ...listen, address: anchorUnixPath(listen.address, at), ...(tls ? { tls } : {}) };
}

function anchorKeys(keys: Config['keys'], at: (p: string) => string): Config['keys'] {
  if (keys.store === 'file') return { ...keys, file: at(keys.file) };
  if (keys.store !== 'vault') return keys;
  const auth = keys.auth;
  const anchoredAuth =
    auth.method === 'approle'
      ? { ...auth, roleIdFile: at(auth.roleIdFile), secretIdFile: at(auth.secretIdFile) }
      : auth.method === 'kubernetes'
        ? { ...auth, tokenFile: at(auth.tokenFile) }
        : auth.tokenFile
          ? { ...auth, tokenFile: at(auth.tokenFile) }
          : auth;
  return { ...keys, auth: anchoredAuth, ...(keys.caFile ? { caFile: at(keys.caFile) } : {}) };
}

function anchorUnixPath(address: string, at: (p: string) => string): string {
  if (!address.startsWith('unix:') || address.startsWith('unix:///') || address.startsWith('unix:/')) return address;
  return `unix:${at(address.slice('unix:'.length))}`;
}
