/**
 * What the inspect phase learns from a request body: typed facts, the same shape for
 * every API family, so policy compares them without knowing which API it reads.
 */

/** The API a destination speaks, which says how its request bodies are read. */
export type Api = 'openai' | 'anthropic' | 'mcp';

export const APIS = ['openai', 'anthropic', 'mcp'] as const satisfies readonly Api[];

/**
 * A name read from the body (model, tool, MCP method). `null`: present but not a name
 * keybroker can compare safely (not a string, ambiguous, odd characters): grants refuse
 * it and deny rules that list names catch it.
 */
export type NameFact = string | null;

export interface BodyFacts {
  readonly api: Api;
  /** OpenTelemetry `gen_ai.operation.name` (`chat`, `embeddings`, `execute_tool`, …). */
  readonly operation?: string;
  /** `model`, when the body names one; `undefined` when it names none. */
  readonly model?: NameFact;
  /** Why `model` is `null`, for the decision's detail (names only, never values). */
  readonly modelProblem?: string;
  /** Whether the response would stream: any `stream` other than absent, `false` or `null`. */
  readonly stream: boolean;
  /**
   * The output token bound the request asks for (the largest of the fields it sets);
   * `undefined` when it sets none, `Infinity` when one is not a non-negative integer.
   */
  readonly maxOutputTokens?: number;
  /** Tools the request names: offered to the model (OpenAI, Anthropic) or called (MCP). */
  readonly tools: readonly NameFact[];
  /** MCP: the JSON-RPC method; `undefined` for a JSON-RPC response (no method). */
  readonly mcpMethod?: NameFact;
  /** MCP `tools/call`: the tool called, and its arguments (never logged). */
  readonly toolName?: NameFact;
  readonly toolArguments?: Readonly<Record<string, unknown>>;
}

/** A name keybroker compares: ASCII letters, digits and a few separators, bounded. */
const PLAIN_NAME = /^[A-Za-z0-9._:/@+-]{1,256}$/;

export function isPlainName(value: unknown): value is string {
  return typeof value === 'string' && PLAIN_NAME.test(value);
}

/** A name fact from a body value: the string when it is plain, else `null`. */
export function nameFact(value: unknown): NameFact {
  return isPlainName(value) ? value : null;
}

/** A body value as an object with own keys, or undefined. */
export function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** An own property only: a body never reaches the prototype. */
export function own(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}
