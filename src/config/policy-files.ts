/**
 * Policy in several files. `policy` is a list of rules, or `{ include: [patterns] }`
 * naming files (a `*` in a pattern matches file names) that each hold a list of rules;
 * `policyCandidate` names such a file, or includes, the same way. Files are merged in a
 * stable order (patterns in the order given, the files each matches sorted by path), and
 * every rule remembers the file and line it came from, for errors, lint and tests.
 */
import { globSync, readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, formatPath, type ConfigProblem } from './errors.ts';

const MAX_FILE_BYTES = 4 * 1024 * 1024;
const MAX_FILES = 1000;

/** A parsed YAML file, kept to locate problems in it. */
export interface YamlSource {
  /** As the person named it (relative to the working directory when it can be). */
  readonly file: string;
  readonly doc: Document;
  readonly lines: LineCounter;
}

/** Where one rule of the merged policy was written. */
export interface RuleOrigin {
  readonly source: YamlSource;
  /** The rule's path inside its document (`['policy', 3]`, or `[3]` in an included file). */
  readonly path: readonly PropertyKey[];
}

export interface ExpandedRules {
  readonly rules: unknown[];
  readonly origins: RuleOrigin[];
  /** Every file read, and the patterns whose matches may change (for reloads). */
  readonly files: string[];
  readonly patterns: string[];
}

export function readYamlSource(file: string, displayName = file): YamlSource {
  let text: string;
  try {
    const bytes = readFileSync(file);
    if (bytes.length > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (error) {
    throw new ConfigError(displayName, [{ path: '', message: `cannot read the file: ${(error as Error).message}` }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      displayName,
      doc.errors.map((e) => ({ path: '', line: lines.linePos(e.pos[0]).line, message: `YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  return { file: displayName, doc, lines };
}

/** The line of the deepest node on `path` that exists in the document. */
export function lineIn(source: YamlSource, path: readonly PropertyKey[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = source.doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) return source.lines.linePos(node.range[0]).line;
  }
  return undefined;
}

/**
 * The rules `value` (the main document's `key`) stands for: inline, one file, or
 * includes. Throws ConfigError for a file that cannot be read, is not a list, or repeats
 * a rule id another file already defines.
 */
export function expandRules(value: unknown, key: string, main: YamlSource, baseDir: string): ExpandedRules {
  const expanded: ExpandedRules = { rules: [], origins: [], files: [], patterns: [] };
  if (Array.isArray(value)) {
    value.forEach((rule, i) => {
      expanded.rules.push(rule);
      expanded.origins.push({ source: main, path: [key, i] });
    });
    return expanded;
  }
  const patterns = includePatterns(value, key, main);
  for (const pattern of patterns) {
    const absolute = isAbsolute(pattern) ? pattern : resolve(baseDir, pattern);
    expanded.patterns.push(absolute);
    const files = pattern.includes('*')
      ? globSync(absolute)
          .map((f) => resolve(f))
          .sort()
      : [absolute];
    for (const file of files) {
      if (expanded.files.includes(file)) continue;
      if (expanded.files.length >= MAX_FILES) throw problemAt(main, [key], `includes more than ${MAX_FILES} files`);
      expanded.files.push(file);
      addFile(expanded, readYamlSource(file, displayName(file)));
    }
  }
  rejectDuplicateIds(expanded);
  return expanded;
}

function includePatterns(value: unknown, key: string, main: YamlSource): string[] {
  if (typeof value === 'string' && value !== '') return [value];
  const include = typeof value === 'object' && value !== null && Object.keys(value).length === 1 ? (value as { include?: unknown }).include : undefined;
  if (!Array.isArray(include) || include.length === 0 || !include.every((p) => typeof p === 'string' && p !== '')) {
    throw problemAt(main, [key], `expected a list of rules, or { include: [files] } (a "*" in a file name matches any name, e.g. ./policy.d/*.yaml)${key === 'policyCandidate' ? ', or a file' : ''}`);
  }
  return include as string[];
}

function addFile(expanded: ExpandedRules, source: YamlSource): void {
  const rules: unknown = source.doc.toJS({ maxAliasCount: 50 });
  if (rules === null || rules === undefined) return;
  if (!Array.isArray(rules)) throw new ConfigError(source.file, [{ path: '', line: lineIn(source, []), message: 'expected a list of policy rules' }]);
  rules.forEach((rule, i) => {
    expanded.rules.push(rule);
    expanded.origins.push({ source, path: [i] });
  });
}

function rejectDuplicateIds(expanded: ExpandedRules): void {
  const first = new Map<string, RuleOrigin>();
  const problems: ConfigProblem[] = [];
  expanded.rules.forEach((rule, i) => {
    const id = (rule as { id?: unknown } | null)?.id;
    if (typeof id !== 'string') return;
    const origin = expanded.origins[i] as RuleOrigin;
    const earlier = first.get(id);
    if (!earlier) {
      first.set(id, origin);
      return;
    }
    const where = `${earlier.source.file}:${lineIn(earlier.source, [...earlier.path, 'id']) ?? '?'}`;
    problems.push({
      file: origin.source.file,
      path: formatPath([...origin.path, 'id']),
      line: lineIn(origin.source, [...origin.path, 'id']),
      message: `rule id "${id}" is already defined in ${where}`,
    });
  });
  if (problems.length > 0) throw new ConfigError((problems[0] as ConfigProblem).file ?? '', problems);
}

function problemAt(source: YamlSource, path: PropertyKey[], message: string): ConfigError {
  return new ConfigError(source.file, [{ path: formatPath(path), line: lineIn(source, path), message }]);
}

function displayName(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}
