#!/usr/bin/env node
/** keybroker's command line: serve, validate, explain. */
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.ts';
import { ListenError } from '../server/listen.ts';
import { serve } from './serve.ts';
import { validate } from './validate.ts';
import { explain, formatExplanation } from './explain.ts';

const USAGE = `usage:
  keybroker serve    -c FILE
  keybroker validate -c FILE
  keybroker explain  -c FILE --identity SPIFFE_ID --destination NAME --method METHOD --path PATH`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      identity: { type: 'string' },
      destination: { type: 'string' },
      method: { type: 'string' },
      path: { type: 'string' },
    },
    strict: true,
  });
  const config = values.config;
  if (!command || !config) {
    console.error(USAGE);
    return 2;
  }
  switch (command) {
    case 'serve':
      await serve(config);
      return -1;
    case 'validate':
      return validate(config, (line) => console.log(line));
    case 'explain': {
      const { identity, destination, method, path } = values;
      if (!identity || !destination || !method || !path) {
        console.error(USAGE);
        return 2;
      }
      const record = await explain(config, { identity, destination, method, path });
      console.log(formatExplanation(record));
      return record.decision === 'allow' ? 0 : 3;
    }
    default:
      console.error(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof ListenError) {
      console.error(error.message);
    } else {
      console.error(`keybroker: ${(error as Error)?.message ?? String(error)}`);
    }
    process.exitCode = 1;
  },
);
