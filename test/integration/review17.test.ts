/**
 * Security review 17 (this session's landed body-reading and response changes): cases
 * that fail on main at e77373c. The request is decided as a Check decides it (inspect
 * phase, compiled policy, evaluate); a body_unreadable denial counts as refused.
 */
import { expect } from 'chai';
import { compilePolicy, type RuleSpec } from '../../src/policy/compile.ts';
import { evaluate, type PolicyResult } from '../../src/policy/evaluate.ts';
import { inspectBody } from '../../src/inspect/inspect.ts';
import type { Api } from '../../src/model/body.ts';
import { Denial } from '../../src/lib/denial.ts';

const AGENT = 'spiffe://td/agent';

type Outcome = PolicyResult | { allow: false; reason: string };

function decide(rules: RuleSpec[], api: Api, path: string, body: string | object): Outcome {
  const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const facts = () => inspectBody({ body: bytes, headers: new Map([['content-type', 'application/json']]) }, api, path);
  try {
    return evaluate(compilePolicy(rules), { identity: AGENT, destination: api, method: 'POST', path, body: facts });
  } catch (error) {
    if (error instanceof Denial) return { allow: false, reason: error.reason };
    throw error;
  }
}

const grant = (api: Api, path: string, extra: Partial<RuleSpec> = {}): RuleSpec => ({
  id: 'grant',
  effect: 'allow',
  identities: [AGENT],
  destinations: [api],
  methods: ['POST'],
  paths: [path],
  ...extra,
});

const CHAT = '/v1/chat/completions';
const chat = (fields: Record<string, unknown>) => ({ model: 'gpt-4o-mini', max_tokens: 256, messages: [{ role: 'user', content: 'hi' }], ...fields });

describe('security review 17: body reading', () => {
  describe('fields one level down are read exactly, not by fold (LiteLLM merges extra_body, a Go upstream folds)', () => {
    it('takes a case variant of max_tokens under extra_body as unbounded', () => {
      const rules = [grant('openai', CHAT, { maxOutputTokens: 4096 })];
      expect(decide(rules, 'openai', CHAT, chat({ extra_body: { Max_Tokens: 100000 } }))).to.include({ allow: false });
    });

    it('takes a case variant of model under extra_body as a second model', () => {
      const rules = [grant('openai', CHAT, { models: ['gpt-4o-mini'] })];
      expect(decide(rules, 'openai', CHAT, chat({ extra_body: { Model: 'gpt-4o' } }))).to.include({ allow: false });
    });
  });

  describe('unnamed tool fields one level down (only tools/functions are looked for there)', () => {
    it('counts web_search_options under extra_body as an unnamed tool', () => {
      const rules = [grant('openai', CHAT, { tools: ['search_*'] })];
      expect(decide(rules, 'openai', CHAT, chat({ extra_body: { web_search_options: { search_context_size: 'high' } } }))).to.include({ allow: false });
    });

    it('counts an Anthropic mcp_servers under extra_body as an unnamed tool', () => {
      const rules = [grant('anthropic', '/v1/messages', { tools: ['get_weather'] })];
      const body = { model: 'claude-3-5-haiku-1', max_tokens: 5, messages: [], extra_body: { mcp_servers: [{ type: 'url', url: 'https://mcp.example.net/sse', name: 'x' }] } };
      expect(decide(rules, 'anthropic', '/v1/messages', body)).to.include({ allow: false });
    });
  });

  describe("one agent's body changes how another's is read (V8 13.6 key misreading, process-wide)", () => {
    it('reads an escaped non-ASCII argument name as sent after another request primed the parser', () => {
      // Python's json.dumps (and requests' json=) escape non-ASCII by default: "名前" goes out as "\u540d\u524d".
      const u = `u${Math.random().toString(36).slice(2, 10)}`;
      const rules = [grant('mcp', '/mcp', { tools: ['get_issue'], arguments: { get_issue: { repo: { prefix: 'acme/' } } } })];
      const call = (args: string) => `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":${args}}}`;
      const victim = call(`{"${u}":0,"repo":"acme/widgets","\\u540d\\u524d":"x"}`);
      expect(decide(rules, 'mcp', '/mcp', victim)).to.include({ allow: true });
      // Another agent's body, itself refused, leaves a map transition with the key "\u".
      decide(rules, 'mcp', '/mcp', call(`{"${u}":0,"repo":"acme/widgets","\\\\u":"x"}`));
      expect(decide(rules, 'mcp', '/mcp', victim)).to.include({ allow: true });
    });
  });

  describe('false positives of the nested-field reading', () => {
    it("allows a Responses request whose tool_choice restricts to allowed tools (openai's ToolChoiceAllowed)", () => {
      const rules = [grant('openai', '/v1/responses', { tools: ['get_weather'] })];
      const tool = { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } };
      const body = { model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 5, tools: [tool], tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'get_weather' }] } };
      expect(decide(rules, 'openai', '/v1/responses', body)).to.include({ allow: true });
    });
  });

  describe('false positives of the backslash-key refusal', () => {
    it('allows a tool whose JSON Schema has patternProperties with a regex key (Pydantic dict[constr(pattern=...)])', () => {
      const rules = [grant('openai', CHAT, { tools: ['lookup'] })];
      const parameters = { type: 'object', properties: { ids: { type: 'object', patternProperties: { '^\\d+$': { type: 'string' } } } } };
      const body = chat({ tools: [{ type: 'function', function: { name: 'lookup', parameters } }] });
      expect(decide(rules, 'openai', CHAT, body)).to.include({ allow: true });
    });

    it('allows an Anthropic tool whose input_schema has patternProperties with a regex key', () => {
      const rules = [grant('anthropic', '/v1/messages', { tools: ['lookup'] })];
      const input_schema = { type: 'object', patternProperties: { '^[a-z]\\w*$': { type: 'integer' } } };
      const body = { model: 'claude-3-5-haiku-1', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'lookup', input_schema }] };
      expect(decide(rules, 'anthropic', '/v1/messages', body)).to.include({ allow: true });
    });
  });
});
