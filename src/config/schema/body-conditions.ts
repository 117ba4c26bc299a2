/**
 * The rule conditions that read the request body (docs/body-rules.md), and the checks
 * that tie them to the destinations' `api`.
 */
import { z } from 'zod';
import { APIS } from '../../inspect/types.ts';

/** How a destination's request bodies are read; absent: never read. */
export const destinationApi = z.enum(APIS).optional();

const NAME = '[A-Za-z0-9._:/@+-]+';
const namePattern = (what: string) => z.string().regex(new RegExp(`^${NAME}\\*?$`), `expected a ${what} name, or a prefix ending in "*" (letters, digits and . _ : / @ + -)`);

const primitive = z.union([z.string(), z.number(), z.boolean()]);

const anchoredRegex = z.string().superRefine((source, ctx) => {
  if (!source.startsWith('^') || !source.endsWith('$')) {
    ctx.addIssue({ code: 'custom', message: 'expected a regex anchored at both ends ("^…$"): an unanchored one matches values with anything around them' });
    return;
  }
  try {
    new RegExp(source, 'u');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(error as Error).message}` });
  }
});

const argumentConstraint = z
  .strictObject({
    equals: primitive.optional(),
    oneOf: z.array(primitive).min(1).optional(),
    prefix: z.string().min(1).optional(),
    regex: anchoredRegex.optional(),
    maxLength: z.number().int().min(0).optional(),
  })
  .refine((c) => Object.values(c).some((v) => v !== undefined), 'give at least one of equals, oneOf, prefix, regex, maxLength');

/** A record whose keys must match `pattern`; zod's own key error does not say what was expected. */
const keyedBy = <T extends z.ZodType>(pattern: RegExp, expected: string, value: T) =>
  z.record(z.string(), value).superRefine((record, ctx) => {
    for (const key of Object.keys(record)) if (!pattern.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: `expected ${expected}` });
  });

/** Spread into the rule object schema. */
export const bodyConditions = {
  models: z.array(namePattern('model')).min(1).optional(),
  maxOutputTokens: z.number().int().min(1).optional(),
  stream: z.boolean().optional(),
  mcpMethods: z.array(namePattern('MCP method')).min(1).optional(),
  tools: z.array(namePattern('tool')).min(1).optional(),
  arguments: keyedBy(new RegExp(`^${NAME}$`), 'a tool name (no "*": constraints name one tool)', keyedBy(/^[A-Za-z0-9_.-]{1,128}$/, 'an argument name', argumentConstraint)).optional(),
};

type Api = (typeof APIS)[number];
type RuleLike = { effect: 'allow' | 'deny'; destinations: string[] } & { [K in keyof typeof bodyConditions]?: unknown };

/** Which APIs each condition can be read from. */
const CONDITION_APIS: Record<keyof typeof bodyConditions, readonly Api[]> = {
  models: ['openai', 'anthropic'],
  maxOutputTokens: ['openai', 'anthropic'],
  stream: ['openai', 'anthropic'],
  mcpMethods: ['mcp'],
  tools: ['openai', 'anthropic', 'mcp'],
  arguments: ['mcp'],
};

/** Each body condition must be readable on every destination the rule names. */
export function checkBodyConditions(rule: RuleLike, apiOf: (destination: string) => Api | undefined, addIssue: (path: Array<string | number>, message: string) => void): void {
  for (const condition of Object.keys(CONDITION_APIS) as Array<keyof typeof bodyConditions>) {
    if (rule[condition] === undefined) continue;
    if (condition === 'maxOutputTokens' && rule.effect === 'deny') {
      addIssue([condition], 'maxOutputTokens bounds what a grant allows; on a deny rule it would deny the requests within it');
    }
    for (const destination of rule.destinations) {
      const api = apiOf(destination);
      if (api === undefined || !CONDITION_APIS[condition].includes(api)) {
        addIssue([condition], `destination "${destination}" ${api ? `speaks api "${api}"` : 'declares no api'}; ${condition} needs api ${CONDITION_APIS[condition].join(' or ')}`);
      }
    }
  }
}
