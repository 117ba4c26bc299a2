/**
 * Facts from an Anthropic Messages request body (`/v1/messages`): `model`, `stream`,
 * `max_tokens`, and the names of the tools offered (client tools and server tools alike
 * carry `name`). `mcp_servers` offers tools too, unnamed: see `addUnreadToolFields`.
 */
import { addToolNames, addUnreadToolFields, FALLBACKS, maxTokensFact, modelFact, nestedObjects, streamFact } from './llm-fields.ts';
import { readKeys, refuseKeyVariants, topLevelObject } from './object-keys.ts';
import { nameFact, own, type BodyFacts, type NameFact } from './types.ts';

const MAX_TOKENS = ['max_tokens'];
const TOKEN_BOUNDS = readKeys(MAX_TOKENS);
/** Extended thinking's budget, billed as output. */
const THINKING_BUDGET = ['thinking', 'budget_tokens'] as const;
const TOOLS = ['tools'];
/** Tools offered without a name keybroker reads: the MCP connector (every tool of a remote server). */
const UNREAD_TOOLS = ['mcp_servers'];
const READ = readKeys(['model', ...FALLBACKS, 'stream', ...MAX_TOKENS, ...TOOLS, ...UNREAD_TOOLS]);
const TOOL_READ = readKeys(['name']);
const NESTED_TOOLS = readKeys([...TOOLS, ...UNREAD_TOOLS]);
/** Objects that say what they are about: the tool `tool_choice` names, the thinking budget. */
const STRUCTURED = new Set(['tool_choice', 'thinking']);

export function anthropicFacts(json: unknown, path: string): BodyFacts {
  const body = topLevelObject(json, READ);
  const nested = nestedObjects(body, STRUCTURED);
  const tools = addToolNames([], own(body, 'tools'), toolName);
  const toolsProblem = addUnreadToolFields(tools, body, nested, UNREAD_TOOLS, NESTED_TOOLS);
  const { model, modelProblem } = modelFact(body, nested);
  return {
    api: 'anthropic',
    operation: path.endsWith('/messages') ? 'chat' : path.endsWith('/complete') ? 'text_completion' : undefined,
    model,
    modelProblem,
    stream: streamFact(body, nested),
    maxOutputTokens: maxTokensFact(body, nested, TOKEN_BOUNDS, THINKING_BUDGET),
    tools,
    toolsProblem,
  };
}

/** Client and server tools alike carry `name`. */
function toolName(tool: Record<string, unknown>): NameFact {
  refuseKeyVariants(tool, TOOL_READ);
  return nameFact(own(tool, 'name'));
}
