/**
 * `keybroker explain` with a request body, as a person would run it: a body file, or a
 * body described by --model, --tool, --mcp-method, --max-tokens and --stream, read by
 * the same inspect phase as Check.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
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
});
