/**
 * Reading a configuration file: YAML → schema → paths made absolute. Every problem names
 * the file, the path inside it and, where the YAML locates it, the line.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { configSchema, type BundleSourceConfig, type Config } from './schema.ts';
import { ConfigError, formatPath, type ConfigProblem } from './errors.ts';
import { expandRules, lineIn, readYamlSource, type ExpandedRules, type RuleOrigin, type YamlSource } from './policy-files.ts';
import { knownKeysAt } from './known-keys.ts';
import { didYouMean } from '../lib/suggest.ts';

export interface LoadedConfig {
  readonly file: string;
  readonly config: Config;
  /** Where each rule of `config.policy` (and `config.policyCandidate`) was written. */
  readonly origins: PolicyOrigins;
  /** The file and line of a path in the configuration file (`['destinations', 'openai']`). */
  readonly locate: (path: readonly PropertyKey[]) => RuleLocation;
  /** What a reload watches: every file read, and the include patterns (files may come and go). */
  readonly watched: { readonly files: readonly string[]; readonly patterns: readonly string[] };
}

export interface PolicyOrigins {
  readonly policy: readonly RuleLocation[];
  readonly policyCandidate: readonly RuleLocation[];
}

/** A rule's file and line, for findings and failures a person can go to. */
export interface RuleLocation {
  readonly file: string;
  readonly line: number | undefined;
}

export function loadConfigFile(file: string): LoadedConfig {
  const absolute = resolve(file);
  return loadSource(readYamlSource(absolute, file), dirname(absolute), absolute);
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
  return loadSource({ file, doc, lines }, baseDir, file).config;
}

/** Keys whose value may stand for rules written in other files. */
const RULE_KEYS = ['policy', 'policyCandidate'] as const;

function loadSource(main: YamlSource, baseDir: string, absolute: string): LoadedConfig {
  const raw = (main.doc.toJS({ maxAliasCount: 50 }) ?? {}) as Record<string, unknown>;
  const expanded = new Map<string, ExpandedRules>();
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    for (const key of RULE_KEYS) {
      if (raw[key] === undefined) continue;
      const rules = expandRules(raw[key], key, main, baseDir);
      expanded.set(key, rules);
      raw[key] = rules.rules;
    }
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems: ConfigProblem[] = parsed.error.issues.flatMap((issue) =>
      // One problem per unknown key, located at the key itself.
      (issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path]).map((path) => ({
        ...locate(main, expanded, path),
        message: issue.code === 'unrecognized_keys' ? unknownKeyMessage(path) : messageOf(issue),
      })),
    );
    throw new ConfigError(main.file, problems);
  }
  const locations = (key: string) => (expanded.get(key)?.origins ?? []).map((o) => ({ file: o.source.file, line: lineIn(o.source, o.path) }));
  const files = [absolute, ...[...expanded.values()].flatMap((e) => e.files)];
  return {
    file: absolute,
    config: anchorPaths(parsed.data, baseDir),
    origins: { policy: locations('policy'), policyCandidate: locations('policyCandidate') },
    locate: (path) => ({ file: main.file, line: lineIn(main, path) }),
    watched: { files, patterns: [...expanded.values()].flatMap((e) => e.patterns) },
  };
}

/** A problem's file, path and line: in the configuration, or in the policy file a rule came from. */
function locate(main: YamlSource, expanded: ReadonlyMap<string, ExpandedRules>, path: readonly PropertyKey[]): Pick<ConfigProblem, 'file' | 'path' | 'line'> {
  const origin: RuleOrigin | undefined = typeof path[1] === 'number' ? expanded.get(String(path[0]))?.origins[path[1]] : undefined;
  if (!origin) return { path: formatPath(path), line: lineIn(main, path) };
  const inner = [...origin.path, ...path.slice(2)];
  return { ...(origin.source === main ? {} : { file: origin.source.file }), path: formatPath(inner), line: lineIn(origin.source, inner) };
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

function anchorPaths(config: Config, baseDir: string): Config {
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const listenAnchored = anchorListen(config.listen, at);
  const keys = anchorKeys(config.keys, at);
  const bundle = (b: BundleSourceConfig): BundleSourceConfig => ('file' in b ? { ...b, file: at(b.file) } : b.ca ? { ...b, ca: at(b.ca) } : b);
  const trust = Object.fromEntries(Object.entries(config.trust).map(([name, td]) => [name, td.bundle ? { ...td, bundle: bundle(td.bundle) } : td]));
  const issuers = config.issuers.map((issuer) => ({ ...issuer, jwks: bundle(issuer.jwks) }));
  const destinations = Object.fromEntries(
    Object.entries(config.destinations).map(([name, d]) => {
      const inject = d.inject;
      return [name, typeof inject === 'object' && 'oauth2' in inject && inject.oauth2.ca ? { ...d, inject: { oauth2: { ...inject.oauth2, ca: at(inject.oauth2.ca) } } } : d];
    }),
  );
  return {
    ...config,
    listen: listenAnchored,
    ...(config.admin ? { admin: { listen: anchorListen(config.admin.listen, at) } } : {}),
    ...(config.gatewayTokens ? { gatewayTokens: { ...config.gatewayTokens, listen: anchorTokenListen(config.gatewayTokens.listen, at) } } : {}),
    keys,
    trust,
    issuers,
    destinations,
  };
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
