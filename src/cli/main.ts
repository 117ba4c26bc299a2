#!/usr/bin/env node
/** keybroker's command line: serve, validate, explain, token. */
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.ts';
import { ListenError } from '../server/listen.ts';
import { serve } from './serve.ts';
import { validate } from './validate.ts';
import { explain, formatExplanation } from './explain.ts';
import { mintToken } from './token.ts';

const USAGE = `usage:
  keybroker serve    -c FILE
  keybroker validate -c FILE
  keybroker explain  -c FILE --identity SPIFFE_ID --destination NAME --method METHOD --path PATH
  keybroker token    --identity SPIFFE_ID [--ttl 5m] [--audience keybroker] [--key examples/demo-jwt/signing-key.jwk]`;

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
      ttl: { type: 'string', default: '5m' },
      audience: { type: 'string', default: 'keybroker' },
      key: { type: 'string', default: 'examples/demo-jwt/signing-key.jwk' },
    },
    strict: true,
  });
  if (command === 'token') {
    if (!values.identity) {
      console.error(USAGE);
      return 2;
    }
    // The token is this command's output: it goes to stdout and nowhere else.
    process.stdout.write(`${await mintToken({ identity: values.identity, keyFile: values.key, audience: values.audience, ttl: values.ttl })}\n`);
    return 0;
  }
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
