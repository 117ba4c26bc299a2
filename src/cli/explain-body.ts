/**
 * The request body a command asks about (`explain`, `test`, `who-can`): a file given with
 * `--body`, or one built from `--model`, `--tool`, `--mcp-method`, `--max-tokens` and
 * `--stream` in the shape the destination's api reads. Read by the real inspect phase.
 */
import { readFileSync } from 'node:fs';
import type { Api, BodyFacts } from '../model/body.ts';
import { inspectBody } from '../inspect/inspect.ts';
import { wholeJsonBodyHeaders } from '../inspect/read-body.ts';
import { Denial } from '../lib/denial.ts';
import { UsageError } from './command.ts';

export interface BodyOptions {
  readonly body?: string | undefined;
  readonly model?: string | undefined;
  readonly tool?: string[] | undefined;
  readonly mcpMethod?: string | undefined;
  readonly maxTokens?: string | undefined;
  readonly stream?: boolean | undefined;
}

/** The body options, for `parseOptions`. */
export const BODY_OPTIONS = {
  body: { type: 'string' },
  model: { type: 'string' },
  tool: { type: 'string', multiple: true },
  'mcp-method': { type: 'string' },
  'max-tokens': { type: 'string' },
  stream: { type: 'boolean' },
} as const;

export const BODY_HELP = `  --body FILE             the JSON request body, read as the inspect phase reads Envoy's
  --model NAME            or a body described: the model asked for (OpenAI, Anthropic),
  --tool NAME             a tool offered (repeatable) or, for MCP, the tool called,
  --mcp-method METHOD     the MCP method (default tools/call with --tool),
  --max-tokens N          the output token bound, and
  --stream                a streamed response (docs/body-rules.md)`;

export function bodyOptions(values: {
  body?: string | undefined;
  model?: string | undefined;
  tool?: string[] | undefined;
  'mcp-method'?: string | undefined;
  'max-tokens'?: string | undefined;
  stream?: boolean | undefined;
}): BodyOptions {
  return { body: values.body, model: values.model, tool: values.tool, mcpMethod: values['mcp-method'], maxTokens: values['max-tokens'], stream: values.stream };
}

/** Whether any body option is given. */
export function givesBody(options: BodyOptions): boolean {
  return options.body !== undefined || described(options);
}

function described(options: BodyOptions): boolean {
  return options.model !== undefined || options.tool !== undefined || options.mcpMethod !== undefined || options.maxTokens !== undefined || Boolean(options.stream);
}

/** The body bytes, or undefined when no body option is given. */
export function explainBody(options: BodyOptions, api: Api | undefined, destination: string): Buffer | undefined {
  if (options.body !== undefined) {
    if (described(options)) throw new UsageError('give either --body FILE or --model/--tool/--mcp-method/--max-tokens/--stream, not both');
    try {
      return readFileSync(options.body);
    } catch (error) {
      throw new UsageError(`--body: cannot read ${options.body}: ${(error as Error).message}`);
    }
  }
  if (!described(options)) return undefined;
  if (!api) throw new UsageError(`destination "${destination}" declares no api, so its rules read no body: drop --model/--tool/--mcp-method/--max-tokens/--stream`);
  return Buffer.from(JSON.stringify(describe(options, api)));
}

/**
 * The facts the inspect phase reads from the body the options give, as Envoy would send
 * it (JSON, its length declared), for a request to `upstreamPath`; undefined when no
 * body option is given. A body the inspect phase cannot read is a usage error.
 */
export function bodyFactsOf(options: BodyOptions, api: Api | undefined, destination: string, upstreamPath: string): BodyFacts | undefined {
  const body = explainBody(options, api, destination);
  if (!body) return undefined;
  if (!api) throw new UsageError(`destination "${destination}" declares no api, so its rules read no body: drop --body`);
  try {
    return inspectBody({ body, headers: wholeJsonBodyHeaders(body) }, api, upstreamPath);
  } catch (error) {
    if (error instanceof Denial) throw new UsageError(`--body: ${error.message}`);
    throw error;
  }
}

function describe(options: BodyOptions, api: Api): object {
  const tools = options.tool ?? [];
  if (api === 'mcp') {
    if (options.model !== undefined || options.maxTokens !== undefined || options.stream) throw new UsageError('--model, --max-tokens and --stream describe OpenAI and Anthropic requests, not MCP');
    if (tools.length > 1) throw new UsageError('an MCP message calls one --tool');
    const method = options.mcpMethod ?? (tools.length > 0 ? 'tools/call' : undefined);
    if (!method) throw new UsageError('describe an MCP message with --mcp-method (and --tool for tools/call)');
    return { jsonrpc: '2.0', id: 1, method, ...(tools[0] === undefined ? {} : { params: { name: tools[0], arguments: {} } }) };
  }
  if (options.mcpMethod !== undefined) throw new UsageError(`--mcp-method describes MCP messages; this destination speaks api "${api}"`);
  let maxTokens: number | undefined;
  if (options.maxTokens !== undefined) {
    maxTokens = Number(options.maxTokens);
    if (!Number.isSafeInteger(maxTokens) || maxTokens < 0) throw new UsageError('--max-tokens: expected a non-negative integer');
  }
  return {
    ...(options.model === undefined ? {} : { model: options.model }),
    ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
    ...(options.stream ? { stream: true } : {}),
    ...(tools.length === 0 ? {} : { tools: tools.map((name) => (api === 'openai' ? { type: 'function', function: { name } } : { name })) }),
  };
}
