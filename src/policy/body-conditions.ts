/**
 * Rule conditions on what the body asks for: models, output tokens, streaming, MCP
 * methods, tools and tool arguments. A grant's conditions bound a request (every named
 * tool allowed, the model in the list); a deny rule's conditions pick requests out (any
 * named tool listed). Both fail closed: a name keybroker cannot compare safely never
 * satisfies a grant and always satisfies a deny rule that lists names. Grants compare
 * names exactly; deny rules ignore case, so an upstream that folds case cannot be used
 * to step around one.
 */
import { foldKey } from '../lib/fold-key.ts';
import type { BodyFacts, NameFact } from '../model/body.ts';

export interface ArgumentConstraintSpec {
  readonly equals?: string | number | boolean | undefined;
  readonly oneOf?: ReadonlyArray<string | number | boolean> | undefined;
  readonly prefix?: string | undefined;
  /** Anchored (`^…$`); tested on strings of at most REGEX_INPUT_LIMIT characters. */
  readonly regex?: string | undefined;
  readonly maxLength?: number | undefined;
}

export interface BodyConditionSpec {
  readonly models?: readonly string[] | undefined;
  readonly maxOutputTokens?: number | undefined;
  readonly stream?: boolean | undefined;
  readonly mcpMethods?: readonly string[] | undefined;
  readonly tools?: readonly string[] | undefined;
  readonly arguments?: Readonly<Record<string, Readonly<Record<string, ArgumentConstraintSpec>>>> | undefined;
}

export type BodyReason = 'model_not_allowed' | 'output_tokens_over_limit' | 'stream_not_allowed' | 'mcp_method_not_allowed' | 'tool_not_allowed' | 'argument_not_allowed';

export interface BodyFailure {
  readonly reason: BodyReason;
  /** Names the offending field and value's name; never a prompt or an argument value. */
  readonly detail: string;
}

interface NameMatcher {
  readonly exact: ReadonlySet<string>;
  readonly prefixes: readonly string[];
}

type ArgumentCheck = (value: unknown) => boolean;

export interface CompiledBodyConditions {
  /** Deny rules compare names and tool keys ignoring case. */
  readonly fold: boolean;
  readonly models?: NameMatcher;
  readonly maxOutputTokens?: number;
  readonly stream?: boolean;
  readonly mcpMethods?: NameMatcher;
  readonly tools?: NameMatcher;
  /** Tool name (folded for deny rules) → its arguments' checks. */
  readonly arguments?: ReadonlyMap<string, ReadonlyArray<readonly [string, ArgumentCheck]>>;
}

/** Longer strings are not run through a `regex` constraint (the event loop is shared). */
export const REGEX_INPUT_LIMIT = 4096;

export function compileBodyConditions(spec: BodyConditionSpec, effect: 'allow' | 'deny'): CompiledBodyConditions | null {
  const fold = effect === 'deny';
  const conditions = {
    fold,
    ...(spec.models ? { models: nameMatcher(spec.models, fold) } : {}),
    ...(spec.maxOutputTokens !== undefined ? { maxOutputTokens: spec.maxOutputTokens } : {}),
    ...(spec.stream !== undefined ? { stream: spec.stream } : {}),
    ...(spec.mcpMethods ? { mcpMethods: nameMatcher(spec.mcpMethods, fold) } : {}),
    ...(spec.tools ? { tools: nameMatcher(spec.tools, fold) } : {}),
    ...(spec.arguments ? { arguments: argumentChecks(spec.arguments, fold) } : {}),
  };
  return Object.keys(conditions).length > 1 ? conditions : null;
}

function nameMatcher(patterns: readonly string[], fold: boolean): NameMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const raw of patterns) {
    const pattern = fold ? raw.toLowerCase() : raw;
    if (pattern.endsWith('*')) prefixes.push(pattern.slice(0, -1));
    else exact.add(pattern);
  }
  return { exact, prefixes };
}

/** Whether `name` is listed; `null` (not comparable) is listed for deny rules only. */
function listed(matcher: NameMatcher, name: NameFact, fold: boolean): boolean {
  if (name === null) return fold;
  const value = fold ? name.toLowerCase() : name;
  return matcher.exact.has(value) || matcher.prefixes.some((prefix) => value.startsWith(prefix));
}

function argumentChecks(spec: NonNullable<BodyConditionSpec['arguments']>, fold: boolean): Map<string, Array<readonly [string, ArgumentCheck]>> {
  const byTool = new Map<string, Array<readonly [string, ArgumentCheck]>>();
  for (const [tool, args] of Object.entries(spec)) {
    byTool.set(
      fold ? tool.toLowerCase() : tool,
      Object.entries(args).map(([name, constraint]) => [name, argumentCheck(constraint, fold)] as const),
    );
  }
  return byTool;
}

/**
 * Every constraint given must hold. A value of the wrong type fails a grant's constraint
 * and satisfies a deny rule's (a lenient server might coerce it).
 */
function argumentCheck(spec: ArgumentConstraintSpec, fold: boolean): ArgumentCheck {
  const checks: ArgumentCheck[] = [];
  const onString =
    (test: (text: string) => boolean): ArgumentCheck =>
    (value) =>
      typeof value === 'string' ? test(value) : fold;
  const primitive = (value: unknown) => value === null || typeof value !== 'object';
  if (spec.equals !== undefined) checks.push((value) => (primitive(value) ? value === spec.equals : fold));
  if (spec.oneOf) {
    const allowed = new Set<unknown>(spec.oneOf);
    checks.push((value) => (primitive(value) ? allowed.has(value) : fold));
  }
  if (spec.prefix !== undefined) checks.push(onString((text) => text.startsWith(spec.prefix!)));
  if (spec.regex !== undefined) {
    const regex = new RegExp(`^(?:${spec.regex})$`, 'u');
    checks.push(onString((text) => (text.length <= REGEX_INPUT_LIMIT ? regex.test(text) : fold)));
  }
  if (spec.maxLength !== undefined) checks.push(onString((text) => text.length <= spec.maxLength!));
  return (value) => checks.every((check) => check(value));
}

const describe = (kind: string, name: NameFact) => (name === null ? `a ${kind} whose name is not a plain name` : `${kind} "${name}"`);

/** Why a grant's body conditions do not hold for these facts; `undefined` when they do. */
export function grantBodyFailure(conditions: CompiledBodyConditions, facts: BodyFacts): BodyFailure | undefined {
  const { models, mcpMethods, tools } = conditions;
  if (mcpMethods) {
    if (facts.mcpMethod === undefined) return { reason: 'mcp_method_not_allowed', detail: 'the message names no MCP method' };
    if (!listed(mcpMethods, facts.mcpMethod, false)) return { reason: 'mcp_method_not_allowed', detail: describe('MCP method', facts.mcpMethod) };
  }
  if (models) {
    if (facts.model === undefined) return { reason: 'model_not_allowed', detail: 'the request names no model' };
    if (facts.model === null) return { reason: 'model_not_allowed', detail: facts.modelProblem ?? describe('model', null) };
    if (!listed(models, facts.model, false)) return { reason: 'model_not_allowed', detail: describe('model', facts.model) };
  }
  if (tools) {
    for (const tool of facts.tools) if (!listed(tools, tool, false)) return { reason: 'tool_not_allowed', detail: (tool === null && facts.toolsProblem) || describe('tool', tool) };
  }
  if (conditions.arguments && facts.toolName !== undefined) {
    const failed = failedArgument(conditions.arguments, facts);
    if (failed) return { reason: 'argument_not_allowed', detail: failed };
  }
  if (conditions.stream !== undefined && conditions.stream !== facts.stream) {
    return { reason: 'stream_not_allowed', detail: facts.stream ? 'the request asks for a streamed response' : 'the rule allows only streamed responses' };
  }
  if (conditions.maxOutputTokens !== undefined) {
    const asked = facts.maxOutputTokens;
    if (asked === undefined) return { reason: 'output_tokens_over_limit', detail: 'the request sets no output token limit (max_tokens)' };
    if (asked > conditions.maxOutputTokens) {
      return {
        reason: 'output_tokens_over_limit',
        detail: Number.isFinite(asked) ? `max output tokens ${asked} over ${conditions.maxOutputTokens}` : 'an output token limit that is not a non-negative integer',
      };
    }
  }
  return undefined;
}

/** The argument (by name) of the called tool that fails its constraints, if any. */
function failedArgument(byTool: NonNullable<CompiledBodyConditions['arguments']>, facts: BodyFacts): string | undefined {
  const tool = facts.toolName;
  if (tool === null || tool === undefined) return undefined;
  const checks = byTool.get(tool);
  if (!checks) return undefined;
  const args = facts.toolArguments ?? {};
  for (const [name, check] of checks) {
    const value = argumentOf(args, name);
    if (value === MISSING) return `argument "${name}" of tool "${tool}" is missing`;
    if (value === VARIANT) return `argument "${name}" of tool "${tool}" is given under a variant of its name`;
    if (!check(value)) return `argument "${name}" of tool "${tool}"`;
  }
  return undefined;
}

const MISSING = Symbol('no such argument');
const VARIANT = Symbol('only a variant of the name');

/**
 * A named argument's value. A key that differs only in case or separators (`Path` for
 * `path`) is what a server binding arguments to a struct may read: VARIANT, which no
 * grant accepts and every deny rule on that argument matches.
 */
function argumentOf(args: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(args, name)) return args[name];
  const fold = foldKey(name);
  for (const key in args) if (foldKey(key) === fold) return VARIANT;
  return MISSING;
}

/**
 * Whether a deny rule's body conditions all pick out this request; the names that
 * matched, for the denial's detail, or `undefined` when the rule does not apply.
 */
export function denyBodyMatch(conditions: CompiledBodyConditions, facts: BodyFacts): string | undefined {
  const matched: string[] = [];
  const { models, mcpMethods, tools } = conditions;
  if (mcpMethods) {
    if (facts.mcpMethod === undefined || !listed(mcpMethods, facts.mcpMethod, true)) return undefined;
    matched.push(describe('MCP method', facts.mcpMethod));
  }
  if (models) {
    if (facts.model === undefined || !listed(models, facts.model, true)) return undefined;
    matched.push(describe('model', facts.model));
  }
  if (tools) {
    const tool = facts.tools.find((t) => listed(tools, t, true));
    if (tool === undefined) return undefined;
    matched.push((tool === null && facts.toolsProblem) || describe('tool', tool));
  }
  if (conditions.arguments) {
    if (facts.toolName === undefined) return undefined;
    if (facts.toolName !== null) {
      const checks = conditions.arguments.get(facts.toolName.toLowerCase());
      if (!checks) return undefined;
      const args = facts.toolArguments ?? {};
      // Missing arguments do not match: the server has nothing of that name to act on.
      const matches = ([name, check]: (typeof checks)[number]) => {
        const value = argumentOf(args, name);
        return value === VARIANT || (value !== MISSING && check(value));
      };
      if (!checks.every(matches)) return undefined;
      matched.push(`arguments ${checks.map(([name]) => `"${name}"`).join(', ')} of tool "${facts.toolName}"`);
    } else matched.push(describe('tool', null));
  }
  if (conditions.stream !== undefined) {
    if (conditions.stream !== facts.stream) return undefined;
    matched.push(facts.stream ? 'a streamed response' : 'an unstreamed response');
  }
  return matched.join(', ');
}

/**
 * The conditions, as the compiled rule holds them, for an access review: one line each,
 * such as `models: gpt-4o-mini, gpt-4.1-*` (deny rules' names in lower case, as compared).
 */
export function describeBodyConditions(conditions: CompiledBodyConditions | null): string[] {
  if (!conditions) return [];
  const names = (matcher: NameMatcher) => [...matcher.exact, ...matcher.prefixes.map((p) => `${p}*`)].join(', ');
  const lines: string[] = [];
  if (conditions.models) lines.push(`models: ${names(conditions.models)}`);
  if (conditions.maxOutputTokens !== undefined) lines.push(`maxOutputTokens: ${conditions.maxOutputTokens}`);
  if (conditions.stream !== undefined) lines.push(`stream: ${conditions.stream}`);
  if (conditions.mcpMethods) lines.push(`mcpMethods: ${names(conditions.mcpMethods)}`);
  if (conditions.tools) lines.push(`tools: ${names(conditions.tools)}`);
  for (const [tool, checks] of conditions.arguments ?? []) lines.push(`arguments of ${tool}: ${checks.map(([name]) => name).join(', ')}`);
  return lines;
}

/** Whether a rule's body conditions let it apply to a request with these facts: a grant's all hold, a deny rule's all pick it out. */
export function bodyConditionsApply(conditions: CompiledBodyConditions | null, effect: 'allow' | 'deny', facts: BodyFacts): boolean {
  if (!conditions) return true;
  return effect === 'allow' ? grantBodyFailure(conditions, facts) === undefined : denyBodyMatch(conditions, facts) !== undefined;
}
