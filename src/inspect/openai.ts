/**
 * Facts from an OpenAI request body: chat completions, responses, embeddings (and
 * legacy completions). One reading for every endpoint, so a path variant never changes
 * which fields are looked at; the path only names the operation for the audit.
 */
import { maxTokensFact, modelFact, streamFact, toolNames, unreadToolFields } from './llm-fields.ts';
import { topLevelObject } from './object-keys.ts';
import { asObject, nameFact, own, type BodyFacts, type NameFact } from './types.ts';

const MAX_TOKENS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'];
/** Tools offered without a name keybroker reads: chat completions' built-in web search, a Responses stored prompt (which may carry tools). */
const UNREAD_TOOLS = ['web_search_options', 'prompt'];
const READ = new Set(['model', 'stream', 'tools', 'functions', ...MAX_TOKENS, ...UNREAD_TOOLS]);

export function openaiFacts(json: unknown, path: string): BodyFacts {
  const body = topLevelObject(json, READ);
  const operation = operationOf(path);
  // An embedding has no output tokens to bound.
  const maxOutputTokens = operation === 'embeddings' ? 0 : maxTokensFact(body, MAX_TOKENS);
  const tools = toolNames(own(body, 'tools'), toolName);
  // Legacy `functions` are offered to the model as tools are.
  const functions = own(body, 'functions');
  if (functions !== undefined) tools.push(...toolNames(functions, (f) => nameFact(own(f, 'name'))));
  const unread = unreadToolFields(body, UNREAD_TOOLS);
  tools.push(...unread.tools);
  return {
    api: 'openai',
    ...(operation ? { operation } : {}),
    ...modelFact(body),
    stream: streamFact(body),
    ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
    tools,
    ...(unread.toolsProblem ? { toolsProblem: unread.toolsProblem } : {}),
  };
}

/**
 * Chat completions: `{type: "function", function: {name}}` or `{type: "custom", custom: {name}}`;
 * responses: `{type: "function", name}`, or a built-in tool named by its type
 * (`web_search`, `code_interpreter`, `mcp`…). Two names that disagree: unreadable.
 */
function toolName(tool: Record<string, unknown>): NameFact {
  let name: unknown;
  for (const found of [own(tool, 'name'), nested(tool, 'function'), nested(tool, 'custom')]) {
    if (found === undefined) continue;
    if (name !== undefined && found !== name) return null;
    name = found;
  }
  return nameFact(name === undefined ? own(tool, 'type') : name);
}

/** `tool[field].name`, when `tool[field]` is an object. */
function nested(tool: Record<string, unknown>, field: string): unknown {
  const object = asObject(own(tool, field));
  return object ? own(object, 'name') : undefined;
}

function operationOf(path: string): string | undefined {
  if (path.endsWith('/chat/completions') || path.endsWith('/responses')) return 'chat';
  if (path.endsWith('/embeddings')) return 'embeddings';
  if (path.endsWith('/completions')) return 'text_completion';
  return undefined;
}
