/**
 * The fields OpenAI and Anthropic request bodies share, read the way a lenient upstream
 * might read them, so that what policy compares is never narrower than what is served.
 */
import { describeKey } from './parse-json.ts';
import { asObject, isPlainName, own, type NameFact } from './types.ts';

export interface ModelFact {
  readonly model?: NameFact;
  readonly modelProblem?: string;
}

/**
 * The top-level `model`. A `model` one level down (`{"extra_body": {"model": …}}`,
 * `metadata.model`) is where a lenient proxy or SDK-shaped server might look instead,
 * so it makes the model ambiguous: grants refuse it, deny rules naming models catch it.
 */
export function modelFact(body: Record<string, unknown>): ModelFact {
  for (const key in body) {
    const nested = asObject(body[key]);
    if (nested && Object.hasOwn(nested, 'model')) return { model: null, modelProblem: `a second "model" under ${describeKey(key)}` };
  }
  if (!Object.hasOwn(body, 'model')) return NO_MODEL;
  const model = body['model'];
  if (isPlainName(model)) return { model };
  return { model: null, modelProblem: typeof model === 'string' ? 'the model name has characters outside [A-Za-z0-9._:/@+-]' : 'the model is not a string' };
}

const NO_MODEL: ModelFact = {};

/** Streaming unless `stream` is absent, `false` or `null`: `"true"` or `1` may stream too. */
export function streamFact(body: Record<string, unknown>): boolean {
  const stream = own(body, 'stream');
  return stream !== undefined && stream !== false && stream !== null;
}

/**
 * The largest output bound among `fields`; a value that is not a non-negative integer
 * (`"100000"` coerced by a lenient upstream) counts as unbounded.
 */
export function maxTokensFact(body: Record<string, unknown>, fields: readonly string[]): number | undefined {
  let max: number | undefined;
  for (const field of fields) {
    const value = own(body, field);
    if (value === undefined || value === null) continue;
    const bound = Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : Infinity;
    max = max === undefined ? bound : Math.max(max, bound);
  }
  return max;
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
 * provider's built-in search, a stored prompt's tools): each one present, and not empty,
 * adds one tool whose name is not comparable (`null`) to `names`, so a rule that inspects
 * tools fails closed rather than passing a request that names none (docs/body-rules.md).
 * Returns the problem to report, or `undefined` when none is present.
 */
export function addUnreadToolFields(names: NameFact[], body: Record<string, unknown>, fields: readonly string[]): string | undefined {
  let present: string | undefined;
  for (const field of fields) {
    const value = own(body, field);
    if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) continue;
    names.push(null);
    present = present === undefined ? `"${field}"` : `${present}, "${field}"`;
  }
  return present === undefined ? undefined : `tools offered through ${present}, which keybroker does not read`;
}
