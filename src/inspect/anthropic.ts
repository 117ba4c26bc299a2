/**
 * Facts from an Anthropic Messages request body (`/v1/messages`): `model`, `stream`,
 * `max_tokens`, and the names of the tools offered (client tools and server tools alike
 * carry `name`). `mcp_servers` offers tools too, unnamed: see `unreadToolFields`.
 */
import { maxTokensFact, modelFact, streamFact, toolNames, unreadToolFields } from './llm-fields.ts';
import { topLevelObject } from './object-keys.ts';
import { nameFact, own, type BodyFacts } from './types.ts';

/** Tools offered without a name keybroker reads: the MCP connector (every tool of a remote server). */
const UNREAD_TOOLS = ['mcp_servers'];
const READ = new Set(['model', 'stream', 'max_tokens', 'tools', ...UNREAD_TOOLS]);

export function anthropicFacts(json: unknown, path: string): BodyFacts {
  const body = topLevelObject(json, READ);
  const maxOutputTokens = maxTokensFact(body, ['max_tokens']);
  const unread = unreadToolFields(body, UNREAD_TOOLS);
  return {
    api: 'anthropic',
    ...(path.endsWith('/messages') ? { operation: 'chat' } : path.endsWith('/complete') ? { operation: 'text_completion' } : {}),
    ...modelFact(body),
    stream: streamFact(body),
    ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
    tools: [...toolNames(own(body, 'tools'), (tool) => nameFact(own(tool, 'name'))), ...unread.tools],
    ...(unread.toolsProblem ? { toolsProblem: unread.toolsProblem } : {}),
  };
}
