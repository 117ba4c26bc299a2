/**
 * Rules that read the request body, over real gRPC: every condition and every denial,
 * and the bodies that try to make keybroker read one thing while the upstream reads
 * another. Bodies travel as Envoy sends them with pack_as_bytes (raw_body).
 */
import { expect } from 'chai';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { startTestBroker, TEST_KEYS, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest, type RequestShape } from '../helpers/envoy-request.ts';
import { CANARY_ARGUMENT, CANARY_PROMPT, expectNoCanary } from '../helpers/canary.ts';
import { BATCH, RESEARCH, WRITER, bodyRulesConfig } from '../helpers/body-config.ts';
import type { CheckResponseMessage } from '../../src/envoy/response.ts';

const chat = (fields: Record<string, unknown> = {}) => ({ model: 'gpt-4o-mini', max_tokens: 256, messages: [{ role: 'user', content: CANARY_PROMPT }], ...fields });
const openai = (body: RequestShape['body'], more: RequestShape = {}): RequestShape => ({ principal: RESEARCH, path: '/openai/v1/chat/completions', body, ...more });
const mcpCall = (name: string, args: Record<string, unknown>, more: RequestShape = {}): RequestShape => ({
  principal: RESEARCH,
  path: '/mcp/',
  destination: 'mcp',
  body: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args } },
  ...more,
});
const mcp = (method: string, params?: Record<string, unknown>): RequestShape => ({
  principal: RESEARCH,
  path: '/mcp/',
  destination: 'mcp',
  body: { jsonrpc: '2.0', id: 1, method, ...(params ? { params } : {}) },
});

describe('body rules', () => {
  let t: TestBroker;
  const responses: CheckResponseMessage[] = [];

  before(async () => {
    t = await startTestBroker({ config: bodyRulesConfig(), keys: { ...TEST_KEYS, 'tools/search': 'tool-key' } });
  });
  after(async () => {
    await t.stop();
    // Prompts and argument values are read, never repeated: not in the log, not in a denial.
    expectNoCanary(t.logs.text(), 'the log');
    for (const r of responses) if (r.denied_response) expectNoCanary(JSON.stringify(r), 'a denial');
  });

  async function check(shape: RequestShape) {
    const response = await t.check(envoyCheckRequest({ requestId: `body-${responses.length}`, ...shape }));
    responses.push(response);
    return response;
  }
  /** The decision log line of the last Check. */
  function lastDecision(): Record<string, unknown> {
    const lines = t.logs.lines().filter((l) => l['decision']);
    return lines[lines.length - 1]!['decision'] as Record<string, unknown>;
  }
  async function allows(shape: RequestShape) {
    const response = await check(shape);
    expect(response.status.code, JSON.stringify(deniedBody(response))).to.equal(0);
    return response;
  }
  async function denies(shape: RequestShape, reason: string, status = reason === 'body_unreadable' ? 400 : 403) {
    const response = await check(shape);
    expect(response.ok_response, 'must not be allowed').to.equal(undefined);
    expect(deniedBody(response).reason).to.equal(reason);
    expect(response.denied_response!.status.code).to.equal(status);
    return lastDecision();
  }

  describe('conditions', () => {
    it('allows a listed model, exact or by trailing *, and records the GenAI names', async () => {
      await allows(openai(chat()));
      expect(lastDecision()).to.include({ model: 'gpt-4o-mini', operation: 'chat', provider: 'openai', rule: 'research-chat' });
      await allows(openai({ model: 'text-embedding-3-small', input: CANARY_PROMPT }, { path: '/openai/v1/embeddings' }));
      expect(lastDecision()).to.include({ model: 'text-embedding-3-small', operation: 'embeddings' });
    });

    it('refuses a model not listed, naming it in the detail', async () => {
      const decision = await denies(openai(chat({ model: 'gpt-4o' })), 'model_not_allowed');
      expect(decision['detail']).to.equal('rule "research-chat": model "gpt-4o"');
      expect(decision['model']).to.equal('gpt-4o');
      await denies(openai(chat({ model: 'text-embedding-3' })), 'model_not_allowed');
      await denies(openai(chat({ model: 'GPT-4O-MINI' })), 'model_not_allowed');
      const { model: _m, ...noModel } = chat();
      expect((await denies(openai(noModel), 'model_not_allowed'))['detail']).to.include('names no model');
    });

    it('bounds output tokens across max_tokens, max_completion_tokens and max_output_tokens', async () => {
      await allows(openai(chat({ max_tokens: 4096 })));
      expect((await denies(openai(chat({ max_tokens: 4097 })), 'output_tokens_over_limit'))['detail']).to.include('4097 over 4096');
      await denies(openai(chat({ max_tokens: 100, max_completion_tokens: 5000 })), 'output_tokens_over_limit');
      await denies(openai({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 9000 }, { path: '/openai/v1/responses' }), 'output_tokens_over_limit');
      // Unbounded, or bounded in a way a lenient upstream might coerce: over any limit.
      const { max_tokens: _x, ...unbounded } = chat();
      await denies(openai(unbounded), 'output_tokens_over_limit');
      await denies(openai(chat({ max_tokens: '100' })), 'output_tokens_over_limit');
      await denies(openai(chat({ max_tokens: 1.5 })), 'output_tokens_over_limit');
    });

    it('refuses streaming where a rule says stream: false, whatever truthy value asks for it', async () => {
      await allows(openai(chat({ stream: false }), { principal: BATCH }));
      await allows(openai(chat(), { principal: BATCH }));
      await denies(openai(chat({ stream: true }), { principal: BATCH }), 'stream_not_allowed');
      await denies(openai(chat({ stream: 'true' }), { principal: BATCH }), 'stream_not_allowed');
      await denies(openai(chat({ stream: 1 }), { principal: BATCH }), 'stream_not_allowed');
      // The research grant says nothing about streaming.
      await allows(openai(chat({ stream: true })));
    });

    it('allows offered tools only when every one is listed', async () => {
      const fn = (name: string) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: { model: { type: 'string' } } } } });
      await allows(openai(chat({ tools: [fn('search_web'), fn('get_issue')] })));
      expect((await denies(openai(chat({ tools: [fn('search_web'), fn('delete_repository')] })), 'tool_not_allowed'))['detail']).to.include('tool "delete_repository"');
      await allows(openai({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 10, tools: [{ type: 'function', name: 'search_docs' }] }, { path: '/openai/v1/responses' }));
      // Built-in tools are named by their type.
      await denies(openai({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 10, tools: [{ type: 'code_interpreter' }] }, { path: '/openai/v1/responses' }), 'tool_not_allowed');
      // Two names that disagree, or a name that is not a plain name.
      await denies(openai(chat({ tools: [{ type: 'function', name: 'search_web', function: { name: 'delete_repository' } }] })), 'tool_not_allowed');
      await denies(openai(chat({ tools: [fn('search_web\u0000')] })), 'tool_not_allowed');
      await denies(openai(chat({ tools: { name: 'search_web' } })), 'tool_not_allowed');
    });

    it('reads Anthropic messages: model prefix, max_tokens, tools', async () => {
      const message = { model: 'claude-3-5-haiku-20241022', max_tokens: 1024, messages: [{ role: 'user', content: CANARY_PROMPT }] };
      await allows({ principal: WRITER, path: '/anthropic/v1/messages', destination: 'anthropic', body: message });
      expect(lastDecision()).to.include({ model: 'claude-3-5-haiku-20241022', provider: 'anthropic', operation: 'chat' });
      await denies({ principal: WRITER, path: '/anthropic/v1/messages', destination: 'anthropic', body: { ...message, model: 'claude-opus-4-1' } }, 'model_not_allowed');
      await denies({ principal: WRITER, path: '/anthropic/v1/messages', destination: 'anthropic', body: { ...message, max_tokens: 4096 } }, 'output_tokens_over_limit');
    });

    it('lets a deny rule pick out models, ignoring case', async () => {
      const decision = await denies(openai(chat({ model: 'gpt-4o-mini-preview-2025' })), 'denied_by_rule');
      expect(decision['detail']).to.equal('rule "no-preview-models": model "gpt-4o-mini-preview-2025"');
      await denies(openai(chat({ model: 'GPT-4o-Mini-Preview' })), 'denied_by_rule');
    });

    it('does not read the body for a request no body rule can apply to', async () => {
      await allows({ principal: RESEARCH, method: 'GET', path: '/openai/v1/models/gpt-4o-mini' });
      await allows({ principal: RESEARCH, method: 'GET', path: '/openai/v1/models', body: 'not json at all' });
      await allows({ principal: RESEARCH, destination: 'tools', host: 'tools.example.org', path: '/search', body: '{"model":"a","model":"b"}' });
      expect(lastDecision()).to.not.have.property('model');
    });
  });

  describe('MCP', () => {
    it('allows listed methods and records mcp.method.name', async () => {
      await allows(mcp('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } }));
      await allows(mcp('tools/list'));
      expect(lastDecision()).to.include({ mcpMethod: 'tools/list' });
      expect(lastDecision()).to.not.have.property('provider');
      expect((await denies(mcp('resources/read', { uri: 'file:///etc/passwd' }), 'mcp_method_not_allowed'))['detail']).to.include('MCP method "resources/read"');
      await denies(mcp('prompts/get', { name: 'x' }), 'mcp_method_not_allowed');
    });

    it('allows listed tools and refuses others, recording the tool name', async () => {
      await allows(mcpCall('search_code', { query: CANARY_ARGUMENT }));
      expect(lastDecision()).to.include({ mcpMethod: 'tools/call', tool: 'search_code', operation: 'execute_tool' });
      expect((await denies(mcpCall('run_shell', { cmd: CANARY_ARGUMENT }), 'tool_not_allowed'))['detail']).to.include('tool "run_shell"');
      await denies(mcpCall('SEARCH_code', {}), 'tool_not_allowed');
      // No tool name: the grant cannot allow it, and the deny rule on tools catches it.
      await denies({ ...mcpCall('x', {}), body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: {} } } }, 'denied_by_rule');
    });

    it('checks argument constraints: prefix, anchored regex, one of, max length; missing is refused', async () => {
      await allows(mcpCall('get_issue', { repo: 'acme/widgets', number: 7 }));
      const decision = await denies(mcpCall('get_issue', { repo: `other/${CANARY_ARGUMENT}` }), 'argument_not_allowed');
      expect(decision['detail']).to.equal('rule "research-mcp": argument "repo" of tool "get_issue"');
      await denies(mcpCall('get_issue', { repo: 'acme/widgets\nmore' }), 'argument_not_allowed');
      await denies(mcpCall('get_issue', { repo: ['acme/widgets'] }), 'argument_not_allowed');
      expect((await denies(mcpCall('get_issue', { number: 7 }), 'argument_not_allowed'))['detail']).to.include('missing');
      await allows(mcpCall('search_issues', { state: 'open' }));
      await denies(mcpCall('search_issues', { state: 'all' }), 'argument_not_allowed');
      await denies(mcpCall('search_code', { query: 'x'.repeat(201) }), 'argument_not_allowed');
    });

    it('lets a deny rule beat the grant that lists the tool, ignoring case', async () => {
      expect((await denies(mcpCall('delete_repository', { repo: 'acme/x' }), 'denied_by_rule'))['detail']).to.include('tool "delete_repository"');
      await denies(mcpCall('Delete_Repository', { repo: 'acme/x' }), 'denied_by_rule');
    });

    it('refuses a JSON-RPC batch, whatever its first element', async () => {
      await denies(
        {
          ...mcp('tools/list'),
          body: [
            { jsonrpc: '2.0', id: 1, method: 'tools/list' },
            { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'run_shell' } },
          ],
        },
        'body_unreadable',
      );
    });

    it('refuses a message that is not JSON-RPC 2.0, and case variants of the keys read', async () => {
      await denies({ ...mcp('tools/list'), body: { id: 1, method: 'tools/list' } }, 'body_unreadable');
      await denies({ ...mcp('tools/list'), body: { jsonrpc: '2.0', id: 1, method: 'tools/list', Method: 'tools/call' } }, 'body_unreadable');
      await denies({ ...mcpCall('search_code', {}), body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'search_code', Name: 'run_shell' } } }, 'body_unreadable');
      await denies({ ...mcpCall('search_code', {}), body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: 'x' } }, 'body_unreadable');
    });

    it('needs no body for the session requests (GET stream, DELETE) that no body rule covers', async () => {
      await allows({ principal: RESEARCH, method: 'GET', path: '/mcp/', destination: 'mcp' });
      await allows({ principal: RESEARCH, method: 'DELETE', path: '/mcp/', destination: 'mcp' });
    });
  });

  describe('evasion', () => {
    it('refuses duplicate keys, also when one is spelt with unicode escapes', async () => {
      const decision = await denies(openai('{"model":"gpt-4o-mini","max_tokens":5,"model":"gpt-4o"}'), 'body_unreadable');
      expect(decision['detail']).to.include('repeats the key "model"');
      await denies(openai('{"model":"gpt-4o-mini","max_tokens":5,"mod\\u0065l":"gpt-4o"}'), 'body_unreadable');
      // Anywhere in the body, not only at the top.
      await denies(openai('{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","role":"system","content":"x"}]}'), 'body_unreadable');
      // Keys equal to a value elsewhere, or inside strings, are not duplicates.
      await allows(openai('{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"\\"model\\": \\"gpt-4o\\", {\\"model\\":1}"}],"metadata":{"k":"model"}}'));
    });

    it('reads an escaped "model" as the upstream does, whatever bodies came before (V8 JSON.parse, nodejs/node#63785)', async () => {
      // V8 13.6 reads "mode\u006c" as "mode\\" once an object with the same
      // preceding keys and a "mode\\" key has been built, here two levels down in the same
      // body. keybroker then sees gpt-4o-mini; Python and Go upstreams read the last model, gpt-4o.
      const u = `u${Math.random().toString(36).slice(2, 10)}`;
      const primer = `{"${u}":0,"model":"x","p":{},"mode\\\\":"x","max_tokens":0}`;
      await denies(openai(`{"${u}":0,"model":"gpt-4o-mini","p":{"d":${primer}},"mode\\u006c":"gpt-4o","max_tokens":5}`), 'body_unreadable');
    });

    it('compares the model as the upstream decodes it', async () => {
      await allows(openai('{"model":"\\u0067pt-4o-mini","max_tokens":5}'));
      expect(lastDecision()).to.include({ model: 'gpt-4o-mini' });
      // A name keybroker cannot compare is caught by the deny rule that lists models
      // (and would not satisfy the grant: see test/unit/body-conditions.test.ts).
      expect((await denies(openai('{"model":"gpt-4o-mini\\u0000","max_tokens":5}'), 'denied_by_rule'))['detail']).to.include('a model whose name is not a plain name');
      await denies(openai('{"model":"gpt\\u20104o-mini","max_tokens":5}'), 'denied_by_rule');
    });

    it('refuses a model nested where a lenient parser might read it, or a model that is not a string', async () => {
      // Caught by the deny rule that lists models, as any model it cannot compare.
      await denies(openai(chat({ extra_body: { model: 'gpt-4o' } })), 'denied_by_rule');
      await denies(openai(chat({ metadata: { model: 'gpt-4o' } })), 'denied_by_rule');
      await denies(openai(chat({ model: ['gpt-4o-mini', 'gpt-4o'] })), 'denied_by_rule');
      // Where no deny rule lists models, the grant refuses it.
      expect(
        (
          await denies(
            { principal: WRITER, path: '/anthropic/v1/messages', destination: 'anthropic', body: { model: 'claude-3-5-haiku-1', max_tokens: 5, extra_body: { model: 'claude-opus-4-1' } } },
            'model_not_allowed',
          )
        )['detail'],
      ).to.include('a second "model" under "extra_body"');
      await denies({ principal: WRITER, path: '/anthropic/v1/messages', destination: 'anthropic', body: { model: { name: 'claude-3-5-haiku-1' }, max_tokens: 5 } }, 'model_not_allowed');
      await denies(openai(chat({ Model: 'gpt-4o' })), 'body_unreadable');
      await denies(openai({ MODEL: 'gpt-4o-mini', max_tokens: 5 }), 'body_unreadable');
      // Go's encoding/json also folds the long s and the Kelvin sign: "ſtream" is "stream".
      await denies(openai(chat({ '\u017ftream': true })), 'body_unreadable');
      await denies(openai({ model: 'gpt-4o-mini', max_to\u212aens: 100000 }), 'body_unreadable');
    });

    it('refuses a body Envoy sent only in part, or that disagrees with content-length', async () => {
      await denies(openai(chat(), { headers: { 'x-envoy-auth-partial-body': 'true' } }), 'body_unreadable');
      const text = JSON.stringify(chat());
      await denies(openai(text.slice(0, 40), { headers: { 'content-length': String(text.length) } }), 'body_unreadable');
      await allows(openai(text, { headers: { 'content-length': String(Buffer.byteLength(text)), 'x-envoy-auth-partial-body': 'false' } }));
      await denies(openai(text, { headers: { 'content-length': String(Buffer.byteLength(text) + 1) } }), 'body_unreadable');
    });

    it('reads gzip bodies and refuses encodings it cannot decode', async () => {
      const gzip = (body: object) => gzipSync(Buffer.from(JSON.stringify(body)));
      await allows(openai(gzip(chat()), { headers: { 'content-encoding': 'gzip' } }));
      await denies(openai(gzip(chat({ model: 'gpt-4o' })), { headers: { 'content-encoding': 'gzip' } }), 'model_not_allowed');
      await denies(openai(gzip(chat()).subarray(0, 30), { headers: { 'content-encoding': 'gzip' } }), 'body_unreadable');
      await denies(openai(Buffer.from(JSON.stringify(chat())), { headers: { 'content-encoding': 'gzip' } }), 'body_unreadable');
      await denies(openai(brotliCompressSync(Buffer.from(JSON.stringify(chat()))), { headers: { 'content-encoding': 'br' } }), 'body_unreadable');
      await denies(openai(gzip(gzip(chat()) as unknown as object), { headers: { 'content-encoding': 'gzip, gzip' } }), 'body_unreadable');
      // A gzip bomb stops at the size limit.
      await denies(openai(gzipSync(Buffer.alloc(2 * 1024 * 1024, 0x20)), { headers: { 'content-encoding': 'gzip' } }), 'body_unreadable');
    });

    it('refuses a content-type that is not JSON, whatever the body is', async () => {
      await denies(openai(chat(), { headers: { 'content-type': 'text/plain' } }), 'body_unreadable');
      await denies(openai(chat(), { headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'body_unreadable');
      await denies(openai(chat(), { headers: { 'content-type': 'application/json; charset=utf-16' } }), 'body_unreadable');
      await denies(openai(chat(), { headers: { 'content-type': 'application/json,text/plain' } }), 'body_unreadable');
      await allows(openai(chat(), { headers: { 'content-type': 'Application/JSON; charset=UTF-8' } }));
    });

    it('refuses a body that is absent, not JSON, not UTF-8, BOM-prefixed or over the limit', async () => {
      await denies(openai(undefined), 'body_unreadable');
      await denies(openai('{"model":"gpt-4o-mini",'), 'body_unreadable');
      await denies(openai(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), 'body_unreadable');
      await denies(openai(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(chat()))])), 'body_unreadable');
      await denies(openai('"gpt-4o-mini"'), 'body_unreadable');
      await denies(openai(chat({ messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024) }] })), 'body_unreadable');
    });

    it('refuses a CheckRequest that carries both body and raw_body', async () => {
      const request = envoyCheckRequest(openai(chat()));
      request.attributes!.request!.http!.body = JSON.stringify(chat({ model: 'gpt-4o' }));
      const response = await t.check(request);
      responses.push(response);
      expect(deniedBody(response).reason).to.equal('request_malformed');
    });

    it('reads body (not raw_body) the same way, as Envoy sends it without pack_as_bytes', async () => {
      const request = envoyCheckRequest({ ...openai(undefined), requestId: 'as-string' });
      request.attributes!.request!.http!.body = JSON.stringify(chat({ model: 'gpt-4o' }));
      const response = await t.check(request);
      responses.push(response);
      expect(deniedBody(response).reason).to.equal('model_not_allowed');
    });
  });
});
