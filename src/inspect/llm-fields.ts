/**
 * The fields OpenAI and Anthropic request bodies share, read the way a lenient upstream
 * might read them, so that what policy compares is never narrower than what is served.
 *
 * A field one level down (`{"extra_body": {"max_tokens": …}}`, `metadata.model`) is where
 * a lenient proxy might look instead: LiteLLM merges `extra_body` over the top level. So
 * each reading also looks there (`Nested`), and a field found there makes it ambiguous.
 */
import { foldKey } from '../lib/fold-key.ts';
import { readKeys, type ReadKeys } from './object-keys.ts';
import { describeKey } from './parse-json.ts';
import { asObject, isPlainName, own, type NameFact } from './types.ts';

/** The objects one level below the top, with the key each sits under. */
export type Nested = readonly (readonly [string, Record<string, unknown>])[];

const NONE: Nested = [];

/** `structured`: fields whose objects have their own meaning (`tool_choice.tools` lists allowed tools, not offered ones). */
export function nestedObjects(body: Record<string, unknown>, structured: ReadonlySet<string>): Nested {
  let nested: [string, Record<string, unknown>][] | undefined;
  for (const key in body) {
    if (structured.has(key)) continue;
    const object = asObject(body[key]);
    if (object) (nested ??= []).push([key, object]);
  }
  return nested ?? NONE;
}

/** The key of the first nested object that has one of `fields`, or a variant of it (`foldKey`), if any. */
function nestedHolder(nested: Nested, fields: ReadKeys): string | undefined {
  for (const [holder, object] of nested) for (const key in object) if (fields.exact.has(key) || fields.folds.has(foldKey(key))) return holder;
  return undefined;
}

export interface ModelFact {
  readonly model?: NameFact;
  readonly modelProblem?: string;
}

const NO_MODEL: ModelFact = {};
/** Fallback model lists: OpenRouter's `models` (and `fallbacks` on its messages API), LiteLLM's client-side `fallbacks`. */
export const FALLBACKS = ['models', 'fallbacks'];
const MODEL = readKeys(['model', ...FALLBACKS]);

/**
 * The top-level `model`. A second one nested, or a list of fallback models (which the
 * upstream serves when the first errors, and an agent can make it error), makes it
 * ambiguous: grants refuse it, deny rules naming models catch it.
 */
export function modelFact(body: Record<string, unknown>, nested: Nested): ModelFact {
  const holder = nestedHolder(nested, MODEL);
  if (holder !== undefined) return { model: null, modelProblem: `a second "model" under ${describeKey(holder)}` };
  for (const field of FALLBACKS) {
    const fallbacks = own(body, field);
    if (fallbacks !== undefined && fallbacks !== null) return { model: null, modelProblem: `models to fall back on under "${field}"` };
  }
  if (!Object.hasOwn(body, 'model')) return NO_MODEL;
  const model = body['model'];
  if (isPlainName(model)) return { model };
  return { model: null, modelProblem: typeof model === 'string' ? 'the model name has characters outside [A-Za-z0-9._:/@+-]' : 'the model is not a string' };
}

const STREAM = readKeys(['stream']);

/** Streaming unless `stream` is absent, `false` or `null` (`"true"` or `1` may stream too), and not nested. */
export function streamFact(body: Record<string, unknown>, nested: Nested): boolean {
  if (nestedHolder(nested, STREAM) !== undefined) return true;
  const stream = own(body, 'stream');
  return stream !== undefined && stream !== false && stream !== null;
}

/**
 * The largest output bound among `fields` and the thinking `budget` (`[object, field]`,
 * which some upstreams bill beside the output bound). Unbounded (`Infinity`): a value
 * that is not a positive integer (`"100000"` coerced by a lenient upstream; `0`, which
 * Ollama runs as no limit and `omitempty` relays drop), or one of `fields` nested.
 */
export function maxTokensFact(body: Record<string, unknown>, nested: Nested, fields: ReadKeys, budget: readonly [string, string]): number | undefined {
  if (nestedHolder(nested, fields) !== undefined) return Infinity;
  let max: number | undefined;
  for (const field of fields.exact) max = largerBound(max, own(body, field));
  // A budget alone bounds nothing: the output is the upstream's default.
  const budgetOf = asObject(own(body, budget[0]));
  return max === undefined || !budgetOf ? max : largerBound(max, own(budgetOf, budget[1]));
}

function largerBound(max: number | undefined, value: unknown): number | undefined {
  if (value === undefined || value === null) return max;
  const bound = Number.isSafeInteger(value) && (value as number) > 0 ? (value as number) : Infinity;
  return max === undefined ? bound : Math.max(max, bound);
}

/**
 * Adds the names of the tools a request offers to `names`, by the shape `nameOf` reads;
 * a value that is not an array adds one unreadable name.
 */
export function addToolNames(names: NameFact[], value: unknown, nameOf: (tool: Record<string, unknown>) => NameFact): NameFact[] {
  if (value === undefined || value === null) return names;
  if (!Array.isArray(value)) {
    names.push(null);
    return names;
  }
  for (const tool of value) {
    const object = asObject(tool);
    names.push(object ? nameOf(object) : null);
  }
  return names;
}

/**
 * Fields that offer the model tools keybroker cannot name (a whole remote MCP server, a
 * provider's built-in search, a stored prompt's tools), and any tool field nested
 * (`nestedTools`): each one present, and not empty, adds one tool whose name
 * is not comparable (`null`) to `names`, so a rule that inspects tools fails closed
 * rather than passing a request that names none (docs/body-rules.md). Returns the
 * problem to report, or `undefined` when none is present.
 */
export function addUnreadToolFields(names: NameFact[], body: Record<string, unknown>, nested: Nested, unread: readonly string[], nestedTools: ReadKeys): string | undefined {
  let present: string | undefined;
  for (const field of unread) {
    const value = own(body, field);
    if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) continue;
    names.push(null);
    present = present === undefined ? `"${field}"` : `${present}, "${field}"`;
  }
  const holder = nestedHolder(nested, nestedTools);
  if (holder !== undefined) {
    names.push(null);
    present = present === undefined ? `tools under ${describeKey(holder)}` : `${present}, tools under ${describeKey(holder)}`;
  }
  return present === undefined ? undefined : `tools offered through ${present}, which keybroker does not read`;
}
