/**
 * What the inspect phase learns from a request body, as the phases that read it (authorize,
 * and later ones) see it: typed facts, the same shape for every API family. Shared, so
 * that policy reads the facts without importing the inspect phase.
 */

/** The API a destination speaks, which says how its request bodies are read. */
export type Api = 'openai' | 'anthropic' | 'mcp';

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
  /**
   * Set when the request offers tools through a field keybroker does not read (Anthropic
   * `mcp_servers`, OpenAI `web_search_options`, a Responses `prompt`): `tools` then holds
   * a `null` for it, so a tools allowlist refuses it and a tools deny rule catches it.
   */
  readonly toolsProblem?: string;
  /** MCP: the JSON-RPC method; `undefined` for a JSON-RPC response (no method). */
  readonly mcpMethod?: NameFact;
  /** MCP `tools/call`: the tool called, and its arguments (never logged). */
  readonly toolName?: NameFact;
  readonly toolArguments?: Readonly<Record<string, unknown>>;
}

/** The body's facts, read on first use and kept; `read` without reading. */
export interface LazyBody {
  /** The facts; throws the `body_unreadable` Denial when the body cannot be read. */
  facts(): BodyFacts;
  /** The facts if something already asked for them. */
  readonly read: BodyFacts | undefined;
}
