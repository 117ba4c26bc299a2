#!/usr/bin/env node
/**
 * keybroker's command line. Each command is a module exporting a `Command`; add yours to
 * COMMANDS below. `--help` on any command, `help [command]` and `--version` are handled
 * here, as are the exit codes of errors.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.ts';
import { KeyFileMissingError } from '../credentials/file-store.ts';
import { ListenError } from '../server/listen.ts';
import { didYouMean } from '../lib/suggest.ts';
import { EXIT, UsageError, type Command, type Io } from './command.ts';
import { demoKeysHint } from './demo-paths.ts';
import { serveCommand } from './serve.ts';
import { validateCommand } from './validate.ts';
import { explainCommand } from './explain.ts';
import { tokenCommand } from './token.ts';
import { healthCommand } from './health.ts';
import { testCommand } from './test.ts';
import { whoCanCommand } from './who-can.ts';
import { canCommand } from './can.ts';
import { lintCommand } from './lint.ts';
import { statusCommand } from './status.ts';
import { reloadCommand } from './reload.ts';
import { limitsCommand } from './limits.ts';
import { usageCommand } from './usage.ts';

/** The registry: one line per command, in the order `keybroker help` lists them. */
const COMMANDS: readonly Command[] = [
  serveCommand,
  validateCommand,
  explainCommand,
  testCommand,
  lintCommand,
  tokenCommand,
  healthCommand,
  whoCanCommand,
  canCommand,
  statusCommand,
  reloadCommand,
  limitsCommand,
  usageCommand,
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `keybroker ${pkg.version}`;
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `usage: keybroker <command> [options]      keybroker <command> --help for its options

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}  keybroker help [command]: this text, or a command's

options: --version, --help

exit codes (every command):
  0  success; for explain and similar: allowed
  1  configuration or runtime error (the message names the file, line and what to fix)
  2  usage: unknown command or option, missing or refused argument
  3  denied
  4  the request names a destination or identity the configuration does not know`;
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    io[name === undefined ? 'err' : 'out'](overview());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    io.out(version());
    return EXIT.ok;
  }
  if (name === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      io.out(overview());
      return EXIT.ok;
    }
    const command = COMMANDS.find((c) => c.name === topic);
    if (!command) return unknownCommand(topic, io);
    io.out(command.help);
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return unknownCommand(name, io);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(command.help);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`keybroker ${command.name}: ${error.message}\n${command.help.split('\n')[0]}\n(keybroker help ${command.name} for more)`);
      return EXIT.usage;
    }
    throw error;
  }
}

function unknownCommand(name: string, io: Io): number {
  io.err(`keybroker: unknown command "${name}"${didYouMean(name, [...COMMANDS.map((c) => c.name), 'help'])}\n\n${overview()}`);
  return EXIT.usage;
}

/** The message for an error a person can act on; anything else keeps its own message. */
export function describeError(error: unknown): string {
  if (error instanceof ConfigError || error instanceof ListenError) return error.message;
  if (error instanceof KeyFileMissingError) return `keybroker: ${error.message}${demoKeysHint(error.file)}`;
  return `keybroker: ${(error as Error)?.message ?? String(error)}`;
}

const io: Io = { out: (line) => console.log(line), err: (line) => console.error(line) };
main(process.argv.slice(2), io).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    console.error(describeError(error));
    process.exitCode = EXIT.error;
  },
);
