/**
 * `keybroker explain` with a request body, as a person would run it: a body file, or a
 * body described by --model, --tool, --mcp-method, --max-tokens and --stream, read by
 * the same inspect phase as Check.
 */
import { expect } from 'chai';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TEST_KEYS } from '../helpers/broker.ts';
import { bodyRulesConfig, RESEARCH, WRITER } from '../helpers/body-config.ts';
import { CANARY_ARGUMENT, CANARY_PROMPT, expectNoCanary } from '../helpers/canary.ts';
import { runCli } from '../helpers/process.ts';

describe('keybroker explain with a request body', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-explain-body-'));
  const file = join(dir, 'keybroker.yaml');
  writeFileSync(join(dir, 'keys.yaml'), stringify(TEST_KEYS), { mode: 0o600 });
  chmodSync(join(dir, 'keys.yaml'), 0o600);
  writeFileSync(file, stringify(bodyRulesConfig()));
  const explain = (...args: string[]) => runCli(['explain', '-c', file, ...args]);
  const openai = ['--identity', RESEARCH, '--destination', 'openai', '--path', '/v1/chat/completions'];
  const mcp = ['--identity', RESEARCH, '--destination', 'mcp', '--path', '/mcp/'];

  it('describes an OpenAI or Anthropic request by model, tools, max tokens and streaming', () => {
    const allowed = explain(...openai, '--model', 'gpt-4o-mini', '--max-tokens', '100', '--tool', 'search_web');
    expect(allowed.code, allowed.stdout + allowed.stderr).to.equal(0);
    expect(allowed.stdout).to.match(/model:\s+gpt-4o-mini\n/);
    const model = explain(...openai, '--model', 'gpt-4o', '--max-tokens', '100');
    expect(model.code).to.equal(3);
    expect(model.stdout)
      .to.match(/reason:\s+model_not_allowed\n/)
      .and.match(/detail:\s+rule "research-chat": model "gpt-4o"/);
    const writer = ['--identity', WRITER, '--destination', 'anthropic', '--path', '/v1/messages'];
    expect(explain(...writer, '--model', 'claude-3-5-haiku-1', '--max-tokens', '10', '--stream').code).to.equal(0);
  });

  it('describes an MCP message by method and tool', () => {
    const method = explain(...mcp, '--mcp-method', 'resources/read');
    expect(method.stdout)
      .to.match(/reason:\s+mcp_method_not_allowed/)
      .and.match(/mcp method:\s+resources\/read/);
    const tool = explain(...mcp, '--tool', 'delete_repository', '--json');
    expect(JSON.parse(tool.stdout)).to.include({ reason: 'denied_by_rule', tool: 'delete_repository', mcpMethod: 'tools/call' });
  });

  it("reads a body file as Check reads Envoy's, and never prints its content", () => {
    const body = join(dir, 'call.json');
    writeFileSync(body, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_issue', arguments: { repo: `other/${CANARY_ARGUMENT}` } } }));
    const denied = explain(...mcp, '--body', body);
    expect(denied.stdout).to.match(/reason:\s+argument_not_allowed/);
    writeFileSync(body, JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, model_: 1, messages: [{ role: 'user', content: CANARY_PROMPT, role_: 'x' }] }).replace('"model_":1', '"model":"gpt-4o"'));
    const duplicate = explain(...openai, '--body', body, '--json');
    expect(JSON.parse(duplicate.stdout)).to.include({ reason: 'body_unreadable' });
    for (const result of [denied, duplicate]) expectNoCanary(result.stdout + result.stderr, 'explain output');
  });

  it('refuses body options that cannot apply, with exit 2', () => {
    expect(explain(...openai, '--body', file, '--model', 'x').code).to.equal(2);
    const noApi = explain('--identity', RESEARCH, '--destination', 'tools', '--path', '/x', '--model', 'gpt-4o');
    expect(noApi.code).to.equal(2);
    expect(noApi.stderr).to.include('declares no api');
  });

  it('--server explains without a body: body options are refused, not ignored', () => {
    const remote = runCli(['explain', '--server', 'unix:///nonexistent.sock', ...openai, '--model', 'gpt-4o']);
    expect(remote.code).to.equal(2);
    expect(remote.stderr).to.include('--server explains without a body');
  });
});

describe('keybroker who-can and test with a request body', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-review-body-'));
  const file = join(dir, 'keybroker.yaml');
  writeFileSync(join(dir, 'keys.yaml'), stringify(TEST_KEYS), { mode: 0o600 });
  chmodSync(join(dir, 'keys.yaml'), 0o600);
  writeFileSync(file, stringify(bodyRulesConfig()));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const whoCan = (...args: string[]) => {
    const result = runCli(['who-can', '-c', file, '--json', ...args]);
    expect(result.code, result.stderr).to.equal(0);
    return JSON.parse(result.stdout) as { grants: Array<{ rule: string; conditions: string[] }>; denials: Array<{ rule: string; conditions: string[] }> };
  };
  const rules = (review: { grants: Array<{ rule: string }>; denials: Array<{ rule: string }> }) => ({ grants: review.grants.map((g) => g.rule), denials: review.denials.map((g) => g.rule) });
  const chat = ['--destination', 'openai', '--method', 'POST', '--path', '/v1/chat/completions'];
  const mcpCall = ['--destination', 'mcp', '--method', 'POST', '--path', '/'];

  it('who-can lists what each rule asks of the body, and with a body only the rules it meets', () => {
    const all = whoCan(...chat);
    expect(rules(all)).to.deep.equal({ grants: ['research-chat', 'batch-chat'], denials: ['no-preview-models'] });
    expect(all.grants[0]!.conditions).to.deep.equal(['models: gpt-4o-mini, text-embedding-3-*', 'maxOutputTokens: 4096', 'tools: get_issue, search_*']);
    const text = runCli(['who-can', '-c', file, ...chat]);
    expect(text.stdout).to.match(/^allow batch-chat: .* \[models: gpt-4o-mini; stream: false\]$/m);

    // gpt-4o-mini within 4096 tokens, unstreamed: both grants; streamed: research only.
    expect(rules(whoCan(...chat, '--model', 'gpt-4o-mini', '--max-tokens', '100'))).to.deep.equal({ grants: ['research-chat', 'batch-chat'], denials: [] });
    expect(rules(whoCan(...chat, '--model', 'gpt-4o-mini', '--max-tokens', '100', '--stream'))).to.deep.equal({ grants: ['research-chat'], denials: [] });
    // A model no grant allows; a preview model a deny rule picks out.
    expect(rules(whoCan(...chat, '--model', 'gpt-4o', '--max-tokens', '100'))).to.deep.equal({ grants: [], denials: [] });
    expect(rules(whoCan(...chat, '--model', 'gpt-4o-mini-preview-2', '--max-tokens', '100'))).to.deep.equal({ grants: [], denials: ['no-preview-models'] });
  });

  it('who-can reads MCP tools and methods, and a body file, as Check reads them', () => {
    expect(rules(whoCan(...mcpCall, '--tool', 'search_web'))).to.deep.equal({ grants: ['research-mcp'], denials: [] });
    // get_issue with no repo argument fails its argument constraint.
    expect(rules(whoCan(...mcpCall, '--tool', 'get_issue'))).to.deep.equal({ grants: [], denials: [] });
    expect(rules(whoCan(...mcpCall, '--tool', 'delete_repository'))).to.deep.equal({ grants: ['research-mcp'], denials: ['no-destructive-tools'] });
    expect(rules(whoCan(...mcpCall, '--mcp-method', 'resources/read'))).to.deep.equal({ grants: [], denials: [] });
    const body = join(dir, 'call.json');
    writeFileSync(body, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_issue', arguments: { repo: `other/${CANARY_ARGUMENT}` } } }));
    const result = runCli(['who-can', '-c', file, ...mcpCall, '--body', body]);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.match(/^no grant$/m);
    expectNoCanary(result.stdout + result.stderr, 'who-can output');
    // A body Check would refuse unread is a usage error here, not an empty answer.
    writeFileSync(body, '{"model":"a","model":"b"}');
    const unreadable = runCli(['who-can', '-c', file, ...chat, '--body', body]);
    expect(unreadable.code).to.equal(2);
    expect(unreadable.stderr).to.include('repeats the key "model"');
  });

  it('test gives its body options to every case that has no body of its own', () => {
    const cases = join(dir, 'cases.yaml');
    writeFileSync(
      cases,
      stringify({
        cases: [
          { name: 'research chats', identity: RESEARCH, destination: 'openai', method: 'POST', path: '/v1/chat/completions', expect: { decision: 'allow', rule: 'research-chat' } },
          { name: 'research calls a tool', identity: RESEARCH, destination: 'mcp', method: 'POST', path: '/', expect: { decision: 'allow' } },
          { name: 'own body', identity: RESEARCH, destination: 'openai', method: 'POST', path: '/v1/chat/completions', body: { model: 'gpt-4o-mini', max_tokens: 10 }, expect: { decision: 'allow' } },
          { name: 'no api', identity: RESEARCH, destination: 'tools', method: 'GET', path: '/x', expect: { decision: 'allow' } },
        ],
      }),
    );
    const test = (...args: string[]) => runCli(['test', '-c', file, cases, ...args]);
    // Without a body, the body rules cannot be read: both body-less cases fail.
    expect(test().stdout).to.match(/^2 passed, 2 failed$/m);
    const mini = test('--model', 'gpt-4o-mini', '--max-tokens', '100');
    // MCP reads no model: refused as a usage error naming the option.
    expect(mini.code).to.equal(2);
    const chatOnly = join(dir, 'chat-cases.yaml');
    writeFileSync(
      chatOnly,
      stringify({ cases: [{ name: 'research chats', identity: RESEARCH, destination: 'openai', method: 'POST', path: '/v1/chat/completions', expect: { decision: 'allow', rule: 'research-chat' } }] }),
    );
    const ok = runCli(['test', '-c', file, chatOnly, '--model', 'gpt-4o-mini', '--max-tokens', '100']);
    expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
    const other = runCli(['test', '-c', file, chatOnly, '--model', 'gpt-4o', '--max-tokens', '100']);
    expect(other.code).to.equal(1);
    expect(other.stdout).to.match(/reason model_not_allowed/);
    const tool = test('--tool', 'get_issue');
    expect(tool.code, tool.stdout + tool.stderr).to.equal(1);
    // --tool on OpenAI offers the tool; on MCP calls it (get_issue with no repo: argument_not_allowed).
    expect(tool.stdout).to.match(/FAIL {2}research calls a tool/);
    expect(tool.stdout).to.match(/argument_not_allowed/);
  });
});
