/**
 * Facts from an Anthropic Messages request body (`/v1/messages`): `model`, `stream`,
 * `max_tokens`, and the names of the tools offered (client tools and server tools alike
 * carry `name`). `mcp_servers` offers tools too, unnamed: see `addUnreadToolFields`.
 */
import { addToolNames, addUnreadToolFields, maxTokensFact, modelFact, streamFact } from './llm-fields.ts';
import { topLevelObject } from './object-keys.ts';
import { nameFact, own, type BodyFacts } from './types.ts';

/** Tools offered without a name keybroker reads: the MCP connector (every tool of a remote server). */
const UNREAD_TOOLS = ['mcp_servers'];
const READ = new Set(['model', 'stream', 'max_tokens', 'tools', ...UNREAD_TOOLS]);

export function anthropicFacts(json: unknown, path: string): BodyFacts {
  const body = topLevelObject(json, READ);
  const tools = addToolNames([], own(body, 'tools'), (tool) => nameFact(own(tool, 'name')));
  const toolsProblem = addUnreadToolFields(tools, body, UNREAD_TOOLS);
  const { model, modelProblem } = modelFact(body);
  return {
    api: 'anthropic',
    operation: path.endsWith('/messages') ? 'chat' : path.endsWith('/complete') ? 'text_completion' : undefined,
    model,
    modelProblem,
    stream: streamFact(body),
    maxOutputTokens: maxTokensFact(body, ['max_tokens']),
    tools,
    toolsProblem,
  };
}
