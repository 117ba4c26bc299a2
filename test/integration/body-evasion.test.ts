/**
 * Bodies a plausible upstream (Python, Go, LiteLLM, llama.cpp, Ollama, mcp-go) would read
 * otherwise than a first reading does, each found by a security review. The request is
 * decided as a Check decides it (inspect phase, compiled policy, evaluate); a
 * body_unreadable denial counts as refused.
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
const deny = (api: Api, extra: Partial<RuleSpec>): RuleSpec => ({ id: 'deny', effect: 'deny', identities: [AGENT], destinations: [api], methods: ['POST'], ...extra });

const CHAT = '/v1/chat/completions';
const chat = (fields: Record<string, unknown>) => ({ model: 'gpt-4o-mini', max_tokens: 256, messages: [{ role: 'user', content: 'hi' }], ...fields });
const mcpCall = (name: string, args: Record<string, unknown>) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } });

describe('body evasions through lenient upstream parsers', () => {
  describe('V8 JSON.parse mis-decodes an escaped key (nodejs/node#63785, Node 24 / V8 13.6)', () => {
    // V8 resolves an escaped key through an existing map transition when the raw text
    // (escapes undecoded) starts with that transition's key: once an object with keys
    // (u, model, p, "mode\\") has been built, "mode\u006c" in the same place is read as
    // "mode\\", not "model". The primer can sit two levels down in the same body (built
    // first), or come from an earlier request: the maps are process-wide. JSON.parse keeps
    // every member, so the colon count matches and no duplicate is seen.
    const unique = () => `u${Math.random().toString(36).slice(2, 10)}`;

    it('does not read one model while the upstream reads a second, escaped "model" (one body)', () => {
      const u = unique();
      const primer = `{"${u}":0,"model":"x","p":{},"mode\\\\":"x","max_tokens":0}`;
      const body = `{"${u}":0,"model":"gpt-4o-mini","p":{"d":${primer}},"mode\\u006c":"gpt-4o","max_tokens":5}`;
      // Python's json and Go's encoding/json read the last "model": gpt-4o.
      expect(JSON.parse(`"mode\\u006c"`)).to.equal('model');
      expect(decide([grant('openai', CHAT, { models: ['gpt-4o-mini'] })], 'openai', CHAT, body)).to.include({ allow: false });
    });

    it('does not let an earlier request prime the parser for a later one', () => {
      const u = unique();
      const rules = [grant('openai', CHAT, { models: ['gpt-4o-mini'], maxOutputTokens: 4096 })];
      decide(rules, 'openai', CHAT, `{"${u}":0,"model":"x","max_tokens":0,"max_token\\\\":0}`);
      const body = `{"${u}":0,"model":"gpt-4o-mini","max_tokens":5,"max_token\\u0073":100000}`;
      expect(decide(rules, 'openai', CHAT, body)).to.include({ allow: false });
    });

    it('does not check one MCP argument while the server reads another', () => {
      const u = unique();
      const rules = [grant('mcp', '/mcp', { tools: ['get_issue'], arguments: { get_issue: { repo: { prefix: 'acme/' } } } })];
      const primer = `{"${u}":0,"repo":"x","p":{},"rep\\\\":"x"}`;
      const args = `{"${u}":0,"repo":"acme/widgets","p":{"d":${primer}},"rep\\u006f":"other/secret"}`;
      const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":${args}}}`;
      expect(decide(rules, 'mcp', '/mcp', body)).to.include({ allow: false });
    });
  });

  describe('case variants below the top level (Go encoding/json folds every struct field)', () => {
    it('refuses an OpenAI tool whose function carries a case variant of "name"', () => {
      // Ollama's OpenAI-compatible endpoint decodes tools into Go structs: it offers run_shell.
      const body = chat({ tools: [{ type: 'function', function: { name: 'search_code', Name: 'run_shell' } }] });
      expect(decide([grant('openai', CHAT, { tools: ['search_*'] })], 'openai', CHAT, body)).to.include({ allow: false });
    });

    it('does not let a case-variant "NAME" or "Function" step around a tools deny rule', () => {
      // keybroker names the tool by its type ("function"); a Go upstream reads run_shell.
      const rules = [grant('openai', CHAT), deny('openai', { tools: ['run_*'] })];
      expect(decide(rules, 'openai', CHAT, chat({ tools: [{ type: 'function', function: { NAME: 'run_shell' } }] }))).to.include({ allow: false });
      expect(decide(rules, 'openai', CHAT, chat({ tools: [{ type: 'function', Function: { name: 'run_shell' } }] }))).to.include({ allow: false });
    });

    it('refuses an Anthropic tool with a case variant of "name"', () => {
      const body = { model: 'claude-3-5-haiku-1', max_tokens: 5, messages: [], tools: [{ name: 'get_weather', Name: 'run_shell', input_schema: { type: 'object' } }] };
      expect(decide([grant('anthropic', '/v1/messages', { tools: ['get_weather'] })], 'anthropic', '/v1/messages', body)).to.include({ allow: false });
    });

    it('refuses an MCP argument beside its long-s variant (mcp-go BindArguments reads the variant)', () => {
      // mcp-go re-marshals arguments with sorted keys: "ſtate" (0xC5…) comes after "state" and wins.
      const rules = [grant('mcp', '/mcp', { tools: ['search_issues'], arguments: { search_issues: { state: { oneOf: ['open', 'closed'] } } } })];
      expect(decide(rules, 'mcp', '/mcp', mcpCall('search_issues', { state: 'open' }))).to.include({ allow: true });
      expect(decide(rules, 'mcp', '/mcp', mcpCall('search_issues', { state: 'open', '\u017ftate': 'all' }))).to.include({ allow: false });
    });

    it('does not let a case-variant argument step around a deny rule on that argument', () => {
      // Missing "path" does not match the deny rule; a Go server binding a struct reads "Path".
      const rules = [grant('mcp', '/mcp', { tools: ['write_file'] }), deny('mcp', { tools: ['write_file'], arguments: { write_file: { path: { prefix: '/etc/' } } } })];
      expect(decide(rules, 'mcp', '/mcp', mcpCall('write_file', { path: '/etc/passwd' }))).to.include({ allow: false, reason: 'denied_by_rule' });
      expect(decide(rules, 'mcp', '/mcp', mcpCall('write_file', { Path: '/etc/passwd' }))).to.include({ allow: false });
    });
  });

  it('folds the dotted capital I as Go libraries folding with strings.ToLower do (jsoniter)', () => {
    // strings.ToLower("İ") is "i" in Go; String.prototype.toLowerCase gives "i̇" (two code points).
    const body = chat({ functİons: [{ name: 'run_shell' }] });
    expect(decide([grant('openai', CHAT, { tools: ['search_*'] })], 'openai', CHAT, body)).to.include({ allow: false });
  });

  it('refuses delimiter variants that Go encoding/json/v2 case-insensitive matching folds ("mcpServers")', () => {
    // json/v2 with MatchCaseInsensitiveNames (or a field's case:ignore) also ignores "_" and "-".
    const body = { model: 'claude-3-5-haiku-1', max_tokens: 5, messages: [], mcpServers: [{ type: 'url', url: 'https://mcp.example.net/sse', name: 'x' }] };
    expect(decide([grant('anthropic', '/v1/messages', { tools: ['get_weather'] })], 'anthropic', '/v1/messages', body)).to.include({ allow: false });
  });

  it('reads output bounds and tools under extra_body, which LiteLLM merges over the top level', () => {
    const rules = [grant('openai', CHAT, { maxOutputTokens: 4096, tools: ['search_*'] })];
    expect(decide(rules, 'openai', CHAT, chat({ extra_body: { max_tokens: 100000 } }))).to.include({ allow: false });
    expect(decide(rules, 'openai', CHAT, chat({ extra_body: { tools: [{ type: 'function', function: { name: 'run_shell' } }] } }))).to.include({ allow: false });
  });

  it("counts llama.cpp's n_predict, which takes precedence over max_tokens there", () => {
    const rules = [grant('openai', CHAT, { maxOutputTokens: 4096 })];
    expect(decide(rules, 'openai', CHAT, chat({ max_tokens: 256, n_predict: 1000000 }))).to.include({ allow: false });
  });

  it('does not take max_tokens 0 as a bound (Ollama runs num_predict 0 unbounded; omitempty relays drop it)', () => {
    const rules = [grant('openai', CHAT, { maxOutputTokens: 4096 })];
    expect(decide(rules, 'openai', CHAT, chat({ max_tokens: 0 }))).to.include({ allow: false });
  });

  it('names a Responses built-in tool by its type even when it also carries a name', () => {
    const rules = [grant('openai', '/v1/responses', { tools: ['search_*'] })];
    const tools = [{ type: 'mcp', name: 'search_docs', server_label: 'x', server_url: 'https://mcp.example.net/sse' }];
    expect(decide(rules, 'openai', '/v1/responses', { model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 5, tools })).to.include({ allow: false });
  });

  it('refuses a very deeply nested body as body_unreadable, not a stack overflow (internal_error)', () => {
    const deep = `{"model":"gpt-4o-mini","max_tokens":5,"metadata":${'['.repeat(200000)}${']'.repeat(200000)}}`;
    expect(decide([grant('openai', CHAT, { models: ['gpt-4o-mini'] })], 'openai', CHAT, deep)).to.include({ allow: false, reason: 'body_unreadable' });
  });
});

describe('body evasions through lenient upstream parsers, continued', () => {
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

describe('body evasions found by review 3 (90d5cb0)', () => {
  // A second model the upstream may serve the request with, beside the `model` keybroker
  // reads: a grant's `models` must not pass it, and a deny rule naming models must catch it.
  describe('fallback model lists (OpenRouter `models`/`fallbacks`, LiteLLM client-side `fallbacks`)', () => {
    const rules = [grant('openai', CHAT, { models: ['gpt-4o-mini'] })];

    it('does not grant gpt-4o-mini to a body whose OpenRouter `models` falls back to gpt-4o', () => {
      // OpenRouter tries `models` in order when the first errors; a prompt longer than the
      // first model's context window is such an error, so the caller picks the model served.
      const body = chat({ models: ['gpt-4o-mini', 'gpt-4o'] });
      expect(decide(rules, 'openai', CHAT, body)).to.include({ allow: false });
    });

    it('does not grant gpt-4o-mini to a body whose extra_body asks LiteLLM to fall back to gpt-4o', () => {
      // LiteLLM's proxy documents client-side fallbacks as extra_body={"fallbacks": [...]},
      // and mock_testing_fallbacks=true in the body makes the first call fail on purpose.
      const body = chat({ extra_body: { fallbacks: ['gpt-4o'], mock_testing_fallbacks: true } });
      expect(decide(rules, 'openai', CHAT, body)).to.include({ allow: false });
    });

    it('does not grant a Claude model to an Anthropic body whose `fallbacks` names another (OpenRouter /v1/messages)', () => {
      const anthropicRules = [grant('anthropic', '/v1/messages', { models: ['claude-3-5-haiku-1'] })];
      const body = { model: 'claude-3-5-haiku-1', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], fallbacks: [{ model: 'claude-opus-4-1' }] };
      expect(decide(anthropicRules, 'anthropic', '/v1/messages', body)).to.include({ allow: false });
    });

    it('lets a deny rule naming gpt-4o catch it offered as a fallback', () => {
      const denyRules = [grant('openai', CHAT), deny('openai', { models: ['gpt-4o'] })];
      expect(decide(denyRules, 'openai', CHAT, chat({ fallbacks: ['gpt-4o'] }))).to.include({ allow: false });
    });
  });

  it('counts a reasoning or thinking budget as an output bound beside max_tokens', () => {
    const rules = [grant('openai', CHAT, { maxOutputTokens: 4096 })];
    expect(decide(rules, 'openai', CHAT, chat({ reasoning: { max_tokens: 100000 } }))).to.include({ allow: false, reason: 'output_tokens_over_limit' });
    expect(decide(rules, 'openai', CHAT, chat({ reasoning: { max_tokens: 1024 } }))).to.include({ allow: true });
    const claude = [grant('anthropic', '/v1/messages', { maxOutputTokens: 4096 })];
    const body = (budget: number) => ({ model: 'claude-3-5-haiku-1', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: budget }, messages: [] });
    expect(decide(claude, 'anthropic', '/v1/messages', body(100000))).to.include({ allow: false, reason: 'output_tokens_over_limit' });
    expect(decide(claude, 'anthropic', '/v1/messages', body(1024))).to.include({ allow: true });
  });
});
