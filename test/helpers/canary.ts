/**
 * Canary secrets: planted in key stores and requests so that tests can prove they appear
 * nowhere they must not (logs, errors, denial bodies, CLI output).
 */
import { expect } from 'chai';

export const CANARY_KEY = 'sk-canary-0d1f3e5a7b9c-KEY-MUST-NEVER-LEAK';
export const CANARY_ANTHROPIC_KEY = 'sk-ant-canary-7c2e9a41-KEY-MUST-NEVER-LEAK';
export const CANARY_AGENT_TOKEN = 'agent-canary-5b8d2f60-TOKEN-MUST-NEVER-LEAK';
/** An OAuth2 client secret, and the stem of every access token the test token endpoint issues. */
export const CANARY_CLIENT_SECRET = 'cs-canary-3a9f61c0-SECRET-MUST-NEVER-LEAK';
export const CANARY_ACCESS_TOKEN = 'at-canary-c47e0b19-TOKEN-MUST-NEVER-LEAK';
/** Fields of a secret with fields (Basic auth: an account id and its secret). */
export const CANARY_SID = 'AC-canary-6d02e7f4-SID-MUST-NEVER-LEAK';
export const CANARY_FIELD_SECRET = 'fs-canary-8b1c5a93-FIELD-MUST-NEVER-LEAK';
export const CANARY_TOOL_KEY = 'tool-canary-3e6a9d12-KEY-MUST-NEVER-LEAK';

/** Planted in prompts, messages and tool argument values: the body's content, never its names. */
export const CANARY_PROMPT = 'prompt-canary-3a9e61c4-PROMPT-MUST-NEVER-LEAK';
export const CANARY_ARGUMENT = 'argument-canary-8f04b2d7-VALUE-MUST-NEVER-LEAK';
/** Planted in providers' answers: completion text, which metering reads past and never records. */
export const CANARY_COMPLETION = 'completion-canary-61e0c9a2-TEXT-MUST-NEVER-LEAK';

const CANARIES = [
  CANARY_KEY,
  CANARY_ANTHROPIC_KEY,
  CANARY_AGENT_TOKEN,
  CANARY_TOOL_KEY,
  CANARY_PROMPT,
  CANARY_ARGUMENT,
  CANARY_COMPLETION,
  CANARY_CLIENT_SECRET,
  CANARY_ACCESS_TOKEN,
  CANARY_SID,
  CANARY_FIELD_SECRET,
];

/** Fails if any canary, or a recognisable fragment of one, appears in `text`. */
export function expectNoCanary(text: string, where: string): void {
  for (const canary of CANARIES) {
    expect(text.includes(canary), `${where} contains a canary secret`).to.equal(false);
    const fragment = canary.slice(0, 20);
    expect(text.includes(fragment), `${where} contains a fragment of a canary secret`).to.equal(false);
  }
}
