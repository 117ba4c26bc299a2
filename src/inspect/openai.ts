/**
 * Facts from an OpenAI request body: chat completions, responses, embeddings (and
 * legacy completions). One reading for every endpoint, so a path variant never changes
 * which fields are looked at; the path only names the operation for the audit.
 */
import { addToolNames, addUnreadToolFields, maxTokensFact, modelFact, streamFact } from './llm-fields.ts';
import { topLevelObject } from './object-keys.ts';
import { asObject, nameFact, own, type BodyFacts, type NameFact } from './types.ts';

const MAX_TOKENS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'];
/** Tools offered without a name keybroker reads: chat completions' built-in web search, a Responses stored prompt (which may carry tools). */
const UNREAD_TOOLS = ['web_search_options', 'prompt'];
const READ = new Set(['model', 'stream', 'tools', 'functions', ...MAX_TOKENS, ...UNREAD_TOOLS]);

export function openaiFacts(json: unknown, path: string): BodyFacts {
  const body = topLevelObject(json, READ);
  const operation = operationOf(path);
  const tools = addToolNames([], own(body, 'tools'), toolName);
  // Legacy `functions` are offered to the model as tools are.
  addToolNames(tools, own(body, 'functions'), functionName);
  const toolsProblem = addUnreadToolFields(tools, body, UNREAD_TOOLS);
  const { model, modelProblem } = modelFact(body);
  return {
    api: 'openai',
    operation,
    model,
    modelProblem,
    stream: streamFact(body),
    // An embedding has no output tokens to bound.
    maxOutputTokens: operation === 'embeddings' ? 0 : maxTokensFact(body, MAX_TOKENS),
    tools,
    toolsProblem,
  };
}

/**
 * Chat completions: `{type: "function", function: {name}}` or `{type: "custom", custom: {name}}`;
 * responses: `{type: "function", name}`, or a built-in tool named by its type
 * (`web_search`, `code_interpreter`, `mcp`…). Two names that disagree: unreadable.
 */
function toolName(tool: Record<string, unknown>): NameFact {
  const name = agreed(agreed(own(tool, 'name'), nested(tool, 'function')), nested(tool, 'custom'));
  if (name === DISAGREE) return null;
  return nameFact(name === undefined ? own(tool, 'type') : name);
}

const DISAGREE = Symbol('two names that disagree');

/** The one name two places give (either may give none), or DISAGREE. */
function agreed(a: unknown, b: unknown): unknown {
  if (a === undefined) return b;
  return b === undefined || b === a ? a : DISAGREE;
}

/** A legacy function: `{name, parameters}`. */
function functionName(f: Record<string, unknown>): NameFact {
  return nameFact(own(f, 'name'));
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
