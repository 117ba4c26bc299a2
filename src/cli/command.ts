/**
 * The shape every `keybroker` command has: its own module exporting a `Command`, listed
 * once in main.ts. Help, `--help` and exit codes are handled here so that every command
 * behaves the same.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from '../lib/suggest.ts';

/** Documented exit codes (`keybroker help` lists them). */
export const EXIT = {
  /** Success; for `explain` and similar, the request is allowed. */
  ok: 0,
  /** A configuration or runtime error (the message says what to fix). */
  error: 1,
  /** The command line itself is wrong. */
  usage: 2,
  /** The request is denied by policy or by a check. */
  deny: 3,
  /** The request names a destination or identity the configuration does not know. */
  unknown: 4,
} as const;

export interface Io {
  /** A line of the command's output (stdout). */
  out(line: string): void;
  /** A warning or error line (stderr). */
  err(line: string): void;
}

export interface Command {
  readonly name: string;
  /** One line for `keybroker help`. */
  readonly summary: string;
  /** The full help text: usage line, options, what it prints, exit codes. */
  readonly help: string;
  /** Returns the exit code; `serve` resolves only once it is running and returns -1. */
  run(args: readonly string[], io: Io): Promise<number>;
}

/** The command line is wrong: exit 2, with the command's usage line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'ERR_USAGE';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `parseArgs`, strict, with unknown options answered by a "did you mean". */
export function parseOptions<O extends Options>(args: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1];
    if (unknown)
      throw new UsageError(
        `unknown option ${unknown}${didYouMean(
          unknown,
          Object.keys(options).map((o) => `--${o}`),
        )}`,
      );
    throw new UsageError(message.split('\n')[0] ?? message);
  }
}

/** Throws a UsageError naming the first required option that is missing. */
export function required<T extends Record<string, unknown>, K extends keyof T & string>(values: T, ...names: K[]): asserts values is T & { [P in K]-?: NonNullable<T[P]> } {
  for (const name of names) {
    if (values[name] === undefined || values[name] === '') throw new UsageError(`--${name} is required`);
  }
}
