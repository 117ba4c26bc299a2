/**
 * Tools offered through fields the inspectors do not read — Anthropic's `mcp_servers` (the
 * MCP connector: every tool of a remote server), OpenAI's `web_search_options`, a
 * Responses stored `prompt` — name no tool. A rule that inspects tools must not read that
 * as "no tools": a tools allowlist refuses the request (`tool_not_allowed`) and a tools
 * deny rule catches it. Rules that do not inspect tools are unaffected.
 */
import { expect } from 'chai';
import { compilePolicy, type RuleSpec } from '../../src/policy/compile.ts';
import { evaluate } from '../../src/policy/evaluate.ts';
import { inspectBody } from '../../src/inspect/inspect.ts';
import type { Api } from '../../src/model/body.ts';
import { Denial } from '../../src/lib/denial.ts';

const WRITER = 'spiffe://td/writer';

function ask(rules: RuleSpec[], destination: Api, path: string, body: Record<string, unknown>) {
  const bytes = Buffer.from(JSON.stringify(body));
  const facts = () => inspectBody({ body: bytes, headers: new Map([['content-type', 'application/json']]) }, destination, path);
  return evaluate(compilePolicy(rules), { identity: WRITER, destination, method: 'POST', path, body: facts });
}

const grant = (destination: Api, path: string, extra: Partial<RuleSpec> = {}): RuleSpec => ({
  id: 'writer',
  effect: 'allow',
  identities: [WRITER],
  destinations: [destination],
  methods: ['POST'],
  paths: [path],
  ...extra,
});

describe('tool rules and tools offered through fields keybroker does not read', () => {
  const messages = { model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'hi' }] };
  const mcpServers = { ...messages, mcp_servers: [{ type: 'url', url: 'https://mcp.example.net/sse', name: 'anything' }] };

  it('a tools allowlist refuses a request that offers a whole MCP server (Anthropic mcp_servers)', () => {
    const decision = ask([grant('anthropic', '/v1/messages', { tools: ['get_weather'] })], 'anthropic', '/v1/messages', mcpServers);
    expect(decision).to.include({ allow: false, reason: 'tool_not_allowed' });
    expect(String((decision as { detail?: string }).detail)).to.include('"mcp_servers"');
  });

  it('a tools deny rule catches it', () => {
    const rules = [grant('anthropic', '/v1/messages'), { id: 'no-shell', effect: 'deny', identities: [WRITER], destinations: ['anthropic'], tools: ['run_shell'] } satisfies RuleSpec];
    expect(ask(rules, 'anthropic', '/v1/messages', mcpServers)).to.include({ allow: false, rule: 'no-shell' });
    expect(ask(rules, 'anthropic', '/v1/messages', messages)).to.include({ allow: true });
  });

  it('refuses OpenAI web_search_options and a Responses stored prompt under a tools allowlist', () => {
    const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], web_search_options: {} };
    expect(ask([grant('openai', '/v1/chat/completions', { tools: ['get_weather'] })], 'openai', '/v1/chat/completions', chat)).to.include({ allow: false, reason: 'tool_not_allowed' });
    const responses = { model: 'gpt-4o-mini', prompt: { id: 'pmpt_123' }, input: 'hi' };
    expect(ask([grant('openai', '/v1/responses', { tools: ['get_weather'] })], 'openai', '/v1/responses', responses)).to.include({ allow: false, reason: 'tool_not_allowed' });
  });

  it('refuses a case variant of an unread tools field', () => {
    const body = { ...messages, MCP_Servers: [{ type: 'url', url: 'https://mcp.example.net/sse', name: 'x' }] };
    expect(() => ask([grant('anthropic', '/v1/messages', { tools: ['get_weather'] })], 'anthropic', '/v1/messages', body))
      .to.throw(Denial, /differs from "mcp_servers" only in case/)
      .with.property('reason', 'body_unreadable');
  });

  it('leaves rules that do not inspect tools, and an empty mcp_servers, alone', () => {
    expect(ask([grant('anthropic', '/v1/messages')], 'anthropic', '/v1/messages', mcpServers)).to.include({ allow: true });
    const empty = { ...messages, mcp_servers: [], tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] };
    expect(ask([grant('anthropic', '/v1/messages', { tools: ['get_weather'] })], 'anthropic', '/v1/messages', empty)).to.include({ allow: true });
  });
});
