/**
 * What the audit record keeps of the body's facts: the names OpenTelemetry's GenAI and
 * MCP conventions ask for, and nothing a prompt, message or argument value could reach.
 */
import type { DecisionRecord } from '../model/check.ts';
import type { BodyFacts } from './types.ts';

const PROVIDERS = { openai: 'openai', anthropic: 'anthropic' } as const;

export function recordBodyFacts(record: DecisionRecord, facts: BodyFacts): void {
  if (typeof facts.model === 'string') record.model = facts.model;
  if (facts.operation) record.operation = facts.operation;
  if (facts.api !== 'mcp') record.provider = PROVIDERS[facts.api];
  if (typeof facts.mcpMethod === 'string') record.mcpMethod = facts.mcpMethod;
  if (typeof facts.toolName === 'string') record.tool = facts.toolName;
}
