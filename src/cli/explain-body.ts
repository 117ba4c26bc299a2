/**
 * The request body `explain` sends through the real inspect phase: a file given with
 * `--body`, or one built from `--model`, `--tool`, `--mcp-method`, `--max-tokens` and
 * `--stream` in the shape the destination's api reads.
 */
import { readFileSync } from 'node:fs';
import type { Api } from '../model/body.ts';
import { UsageError } from './command.ts';

export interface BodyOptions {
  readonly body?: string | undefined;
  readonly model?: string | undefined;
  readonly tool?: string[] | undefined;
  readonly mcpMethod?: string | undefined;
  readonly maxTokens?: string | undefined;
  readonly stream?: boolean | undefined;
}

/** The body bytes, or undefined when no body option is given. */
export function explainBody(options: BodyOptions, api: Api | undefined, destination: string): Buffer | undefined {
  const described = options.model !== undefined || options.tool !== undefined || options.mcpMethod !== undefined || options.maxTokens !== undefined || options.stream;
  if (options.body !== undefined) {
    if (described) throw new UsageError('give either --body FILE or --model/--tool/--mcp-method/--max-tokens/--stream, not both');
    try {
      return readFileSync(options.body);
    } catch (error) {
      throw new UsageError(`--body: cannot read ${options.body}: ${(error as Error).message}`);
    }
  }
  if (!described) return undefined;
  if (!api) throw new UsageError(`destination "${destination}" declares no api, so its rules read no body: drop --model/--tool/--mcp-method/--max-tokens/--stream`);
  return Buffer.from(JSON.stringify(describe(options, api)));
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
