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
  for (const key of Object.keys(body)) {
    const nested = asObject(body[key]);
    if (nested && Object.hasOwn(nested, 'model')) return { model: null, modelProblem: `a second "model" under ${describeKey(key)}` };
  }
  if (!Object.hasOwn(body, 'model')) return {};
  const model = body['model'];
  if (isPlainName(model)) return { model };
  return { model: null, modelProblem: typeof model === 'string' ? 'the model name has characters outside [A-Za-z0-9._:/@+-]' : 'the model is not a string' };
}

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

/** Names of the tools a request offers, by the shape `nameOf` reads; not an array: one unreadable name. */
export function toolNames(value: unknown, nameOf: (tool: Record<string, unknown>) => NameFact): NameFact[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return [null];
  return value.map((tool) => {
    const object = asObject(tool);
    return object ? nameOf(object) : null;
  });
}

/**
 * Fields that offer the model tools keybroker cannot name (a whole remote MCP server, a
 * provider's built-in search, a stored prompt's tools): each one present, and not empty,
 * counts as one tool whose name is not comparable (`null`), so a rule that inspects tools
 * fails closed rather than passing a request that names none (docs/body-rules.md).
 */
export function unreadToolFields(body: Record<string, unknown>, fields: readonly string[]): { readonly tools: NameFact[]; readonly toolsProblem?: string } {
  const present = fields.filter((field) => {
    const value = own(body, field);
    return value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);
  });
  if (present.length === 0) return { tools: [] };
  return { tools: present.map(() => null), toolsProblem: `tools offered through ${present.map((f) => `"${f}"`).join(', ')}, which keybroker does not read` };
}
