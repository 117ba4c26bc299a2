/** A configuration problem, located as precisely as the source allows. */
export interface ConfigProblem {
  /** Dotted path inside the document, e.g. `policy[0].methods[1]`; empty for the whole file. */
  readonly path: string;
  /** 1-based line, when the YAML source locates it. */
  readonly line?: number | undefined;
  /** The file, when it is not the configuration file itself (an included policy file). */
  readonly file?: string;
  readonly message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'ERR_CONFIG';
  readonly file: string;
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, problems: readonly ConfigProblem[]) {
    super(problems.map((p) => formatProblem(file, p)).join('\n'));
    this.file = file;
    this.problems = problems;
  }
}

export function formatProblem(configFile: string, problem: ConfigProblem): string {
  const file = problem.file ?? configFile;
  const where = problem.line === undefined ? file : `${file}:${problem.line}`;
  return problem.path ? `${where}: ${problem.path}: ${problem.message}` : `${where}: ${problem.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}
