/**
 * Facts from an OpenAI request body: chat completions, responses, embeddings (and
 * legacy completions). One reading for every endpoint, so a path variant never changes
 * which fields are looked at; the path only names the operation for the audit.
 */
import { addToolNames, addUnreadToolFields, FALLBACKS, maxTokensFact, modelFact, nestedObjects, streamFact } from './llm-fields.ts';
import { readKeys, refuseKeyVariants, topLevelObject } from './object-keys.ts';
import { asObject, nameFact, own, type BodyFacts, type NameFact } from './types.ts';

/** `n_predict`: llama.cpp's server reads it before `max_tokens`. */
const MAX_TOKENS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens', 'n_predict'];
const TOKEN_BOUNDS = readKeys(MAX_TOKENS);
/** A reasoning budget some upstreams bill beside the output bound (OpenRouter's `reasoning.max_tokens`, Anthropic's thinking budget). */
const THINKING_BUDGET = ['reasoning', 'max_tokens'] as const;
const TOOLS = ['tools', 'functions'];
/** Tools offered without a name keybroker reads: chat completions' built-in web search, a Responses stored prompt (which may carry tools). */
const UNREAD_TOOLS = ['web_search_options', 'prompt'];
const READ = readKeys(['model', ...FALLBACKS, 'stream', ...TOOLS, ...MAX_TOKENS, ...UNREAD_TOOLS]);
const NESTED_TOOLS = readKeys([...TOOLS, ...UNREAD_TOOLS]);
/** Objects that say what they are about: the tools `tool_choice` allows, OpenRouter's reasoning budget (`reasoning.max_tokens`). */
const STRUCTURED = new Set(['tool_choice', 'reasoning']);
const TOOL_READ = readKeys(['type', 'name', 'function', 'custom']);
const NAME_READ = readKeys(['name']);

export function openaiFacts(json: unknown, path: string): BodyFacts {
  const body = topLevelObject(json, READ);
  const nested = nestedObjects(body, STRUCTURED);
  const operation = operationOf(path);
  const tools = addToolNames([], own(body, 'tools'), toolName);
  // Legacy `functions` are offered to the model as tools are.
  addToolNames(tools, own(body, 'functions'), functionName);
  const toolsProblem = addUnreadToolFields(tools, body, nested, UNREAD_TOOLS, NESTED_TOOLS);
  const { model, modelProblem } = modelFact(body, nested);
  return {
    api: 'openai',
    operation,
    model,
    modelProblem,
    stream: streamFact(body, nested),
    // An embedding has no output tokens to bound.
    maxOutputTokens: operation === 'embeddings' ? 0 : maxTokensFact(body, nested, TOKEN_BOUNDS, THINKING_BUDGET),
    tools,
    toolsProblem,
  };
}

/**
 * Chat completions: `{type: "function", function: {name}}` or `{type: "custom", custom: {name}}`;
 * responses: `{type: "function", name}`, or a built-in tool, named by its type
 * (`web_search`, `code_interpreter`, `mcp`…) whatever else it carries. Two names that
 * disagree: unreadable.
 */
function toolName(tool: Record<string, unknown>): NameFact {
  refuseKeyVariants(tool, TOOL_READ);
  const type = own(tool, 'type');
  if (type !== undefined && type !== 'function' && type !== 'custom') return nameFact(type);
  const name = agreed(agreed(own(tool, 'name'), nested(tool, 'function')), nested(tool, 'custom'));
  if (name === DISAGREE) return null;
  return nameFact(name === undefined ? type : name);
}

const DISAGREE = Symbol('two names that disagree');

/** The one name two places give (either may give none), or DISAGREE. */
function agreed(a: unknown, b: unknown): unknown {
  if (a === undefined) return b;
  return b === undefined || b === a ? a : DISAGREE;
}

/** A legacy function: `{name, parameters}`. */
function functionName(f: Record<string, unknown>): NameFact {
  refuseKeyVariants(f, NAME_READ);
  return nameFact(own(f, 'name'));
}

/** `tool[field].name`, when `tool[field]` is an object. */
function nested(tool: Record<string, unknown>, field: string): unknown {
  const object = asObject(own(tool, field));
  if (!object) return undefined;
  refuseKeyVariants(object, NAME_READ);
  return own(object, 'name');
}

function operationOf(path: string): string | undefined {
  if (path.endsWith('/chat/completions') || path.endsWith('/responses')) return 'chat';
  if (path.endsWith('/embeddings')) return 'embeddings';
  if (path.endsWith('/completions')) return 'text_completion';
  return undefined;
}
