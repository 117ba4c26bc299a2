/**
 * Body rules through real Envoy running the shipped envoy/egress-gateway.yaml (body sent
 * per route, whole, as bytes), with the real OpenAI, Anthropic and MCP SDK clients: what
 * is allowed reaches the upstream byte for byte, what is refused never leaves the
 * gateway and says why in the SDK's error, and streamed answers still stream.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa, type Issued } from '../../scripts/dev-pki.ts';
import { startFakeProvider, SSE_EVENTS, type FakeProvider } from '../helpers/fake-provider.ts';
import { startFakeMcpServer, type FakeMcpServer } from '../helpers/fake-mcp-server.ts';
import { destinationsReadingBody } from '../../src/pipeline/body-destinations.ts';
import { fakeProviderValues, gatewayValues, startEnvoy, type RunningEnvoy } from '../helpers/envoy.ts';
import { gatewayFetch } from '../helpers/sdk-fetch.ts';
import { CANARY_ARGUMENT, CANARY_PROMPT, expectNoCanary } from '../helpers/canary.ts';
import { RESEARCH, WRITER, bodyRulesConfig } from '../helpers/body-config.ts';

describe('body rules through real Envoy and the real SDKs', function () {
  this.timeout(60_000);

  const dir = mkdtempSync(join(tmpdir(), 'keybroker-e2e-body-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: [RESEARCH] });
  const writer = trust.issue('writer', { uris: [WRITER] });
  const providerCa = createCa('providers');

  let broker: TestBroker;
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let mcpServer: FakeMcpServer;
  let envoy: RunningEnvoy;
  /** Bodies as the SDKs sent them, to compare with what the upstream received. */
  const sent: string[] = [];
  const errors: unknown[] = [];

  const fetchAs = (svid: Issued): typeof fetch => {
    const inner = gatewayFetch(trust.cert, svid);
    return (async (input: string | URL | Request, init?: RequestInit) => {
      if (typeof init?.body === 'string') sent.push(init.body);
      return inner(input, init);
    }) as typeof fetch;
  };
  const base = (path: string) => `https://gateway.local:${envoy.port}${path}`;
  const sdk = (svid: Issued) => ({ apiKey: 'sk-placeholder', fetch: fetchAs(svid), maxRetries: 0, timeout: 10_000 });
  /**
   * The reason as the agent's SDK reports it: OpenAI's `code`, Anthropic's `errorCode`
   * (both read from keybroker's SDK-shaped denial), or the MCP client's message, which
   * carries the denial body.
   */
  const reasonOf = (error: Error & Record<string, unknown>): string => {
    for (const field of ['code', 'errorCode']) if (typeof error[field] === 'string') return error[field] as string;
    const inMessage = /"reason":"([a-z_]+)"/.exec(error.message);
    return inMessage ? inMessage[1]! : `(no reason in: ${error.message})`;
  };
  const refusal = async (call: () => Promise<unknown>): Promise<Error & Record<string, unknown> & { status?: number }> => {
    const error = await call().then(
      () => expect.fail('the call was allowed'),
      (e: unknown) => e as Error & Record<string, unknown> & { status?: number },
    );
    errors.push(error);
    return error;
  };

  before(async () => {
    openai = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }));
    anthropic = await startFakeProvider('anthropic', providerCa.issue('api.anthropic.com', { dns: ['api.anthropic.com'] }));
    mcpServer = await startFakeMcpServer(providerCa.issue('mcp.example.org', { dns: ['mcp.example.org'] }));
    broker = await startTestBroker({ dir, config: bodyRulesConfig() });
    envoy = await startEnvoy(
      dir,
      {
        ...gatewayValues(gateway, trust.certFile, broker.broker.address),
        ...fakeProviderValues(providerCa.certFile, openai.port, anthropic.port, mcpServer.port),
      },
      undefined,
      undefined,
      // The body on the routes whose destinations' rules and limits read it, as an operator sets it up.
      { bodyFor: [...destinationsReadingBody(broker.broker.runtime().config)] },
    );
  });

  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    await openai?.close();
    await anthropic?.close();
    await mcpServer?.close();
    // Prompts and tool argument values cross the gateway; keybroker repeats none of them.
    expectNoCanary(broker.logs.text(), 'keybroker log');
    expectNoCanary(readFileSync(envoy.accessLog, 'utf8'), 'Envoy access log');
    for (const e of errors) expectNoCanary(`${(e as Error).message} ${JSON.stringify(e)}`, 'an SDK error');
    rmSync(dir, { recursive: true, force: true });
  });

  describe('OpenAI SDK', () => {
    const client = () => new OpenAI({ ...sdk(research), baseURL: base('/openai/v1') });

    it('lets an allowed model through, the body reaching the provider unchanged', async () => {
      const before = openai.received.length;
      const answer = await client().chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: CANARY_PROMPT }] });
      expect(answer).to.deep.include({ provider: 'openai', ok: true });
      expect(openai.received).to.have.length(before + 1);
      expect(openai.received.at(-1)!.body).to.equal(sent.at(-1));
      expect(openai.received.at(-1)!.body).to.include(CANARY_PROMPT);
    });

    it('refuses a model not allowed; the SDK error names the reason and nothing reaches the provider', async () => {
      const before = openai.received.length;
      const error = await refusal(() => client().chat.completions.create({ model: 'gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: CANARY_PROMPT }] }));
      expect(error).to.be.instanceOf(OpenAI.APIError);
      expect(error.status).to.equal(403);
      expect(reasonOf(error)).to.equal('model_not_allowed');
      expect(error.message).to.include('model_not_allowed');
      expect(openai.received.length).to.equal(before);
    });

    it('refuses a tool not allowed', async () => {
      const error = await refusal(() =>
        client().chat.completions.create({
          model: 'gpt-4o-mini',
          max_tokens: 64,
          messages: [{ role: 'user', content: 'x' }],
          tools: [{ type: 'function', function: { name: 'delete_repository', parameters: { type: 'object' } } }],
        }),
      );
      expect(reasonOf(error)).to.equal('tool_not_allowed');
    });

    it('gets 413 from Envoy for a body over max_request_bytes, never a Check on part of it', async () => {
      const before = openai.received.length;
      const decisions = broker.logs.lines().length;
      const error = await refusal(() => client().chat.completions.create({ model: 'gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024) }] }));
      expect(error.status).to.equal(413);
      expect(openai.received.length).to.equal(before);
      expect(
        broker.logs
          .lines()
          .slice(decisions)
          .filter((l) => l['decision']),
      ).to.deep.equal([]);
    });

    it('streams a streamed answer, chunk by chunk', async () => {
      const stream = await client().chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 64, stream: true, messages: [{ role: 'user', content: CANARY_PROMPT }] });
      const arrivals: number[] = [];
      let chunks = 0;
      for await (const chunk of stream) {
        arrivals.push(Date.now());
        expect(chunk).to.have.property('id', chunks);
        chunks++;
      }
      expect(chunks).to.equal(SSE_EVENTS.length);
      // The provider writes an event every 5 ms: a buffered answer would arrive all at once.
      expect(arrivals.at(-1)! - arrivals[0]!).to.be.greaterThan(40);
      expect(openai.received.at(-1)!.body).to.equal(sent.at(-1));
    });
  });

  describe('Anthropic SDK', () => {
    const client = () => new Anthropic({ ...sdk(writer), baseURL: base('/anthropic') });

    it('lets an allowed model through unchanged, and refuses another with the reason', async () => {
      const answer = await client().messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 256, messages: [{ role: 'user', content: CANARY_PROMPT }] });
      expect(answer).to.deep.include({ provider: 'anthropic', ok: true });
      expect(anthropic.received.at(-1)!.body).to.equal(sent.at(-1));
      const before = anthropic.received.length;
      const error = await refusal(() => client().messages.create({ model: 'claude-opus-4-1', max_tokens: 256, messages: [{ role: 'user', content: CANARY_PROMPT }] }));
      expect(error).to.be.instanceOf(Anthropic.APIError);
      expect(error.status).to.equal(403);
      expect(reasonOf(error)).to.equal('model_not_allowed');
      expect(error.message).to.include('model_not_allowed');
      const tooLong = await refusal(() => client().messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 8192, messages: [{ role: 'user', content: 'x' }] }));
      expect(reasonOf(tooLong)).to.equal('output_tokens_over_limit');
      expect(anthropic.received.length).to.equal(before);
    });
  });

  describe('MCP SDK client', () => {
    let client: Client;
    before(async () => {
      client = new Client({ name: 'research-agent', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(base('/mcp/')), { fetch: fetchAs(research) }));
    });
    after(async () => {
      await client?.close();
    });

    it('initializes and lists tools through the gateway', async () => {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).to.deep.equal(['delete_repository', 'get_issue', 'search_code']);
    });

    it('calls an allowed tool, the message reaching the server unchanged', async () => {
      const result = await client.callTool({ name: 'search_code', arguments: { query: CANARY_ARGUMENT } });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'search_code done' }]);
      expect(mcpServer.calls.at(-1)).to.deep.equal({ tool: 'search_code', args: { query: CANARY_ARGUMENT } });
      expect(mcpServer.bodies.at(-1)).to.equal(sent.at(-1));
    });

    it('refuses a tool call outside its argument constraints, or a denied tool, before the server sees it', async () => {
      const before = mcpServer.bodies.length;
      const argument = await refusal(() => client.callTool({ name: 'get_issue', arguments: { repo: `other/${CANARY_ARGUMENT}` } }));
      expect(argument).to.include({ code: 403 });
      expect(reasonOf(argument)).to.equal('argument_not_allowed');
      const denied = await refusal(() => client.callTool({ name: 'delete_repository', arguments: { repo: 'acme/widgets' } }));
      expect(reasonOf(denied)).to.equal('denied_by_rule');
      expect(mcpServer.bodies.length).to.equal(before);
      await client.callTool({ name: 'get_issue', arguments: { repo: 'acme/widgets' } });
      expect(mcpServer.calls.at(-1)).to.deep.equal({ tool: 'get_issue', args: { repo: 'acme/widgets' } });
    });
  });

  describe('the audit', () => {
    it('records the model, operation, provider, MCP method and tool in the decision log', () => {
      const decisions = broker.logs
        .lines()
        .map((l) => l['decision'] as Record<string, unknown> | undefined)
        .filter((d) => d);
      expect(decisions.some((d) => d!['model'] === 'gpt-4o' && d!['reason'] === 'model_not_allowed' && d!['provider'] === 'openai' && d!['operation'] === 'chat')).to.equal(true);
      expect(decisions.some((d) => d!['mcpMethod'] === 'tools/call' && d!['tool'] === 'search_code' && d!['decision'] === 'allow')).to.equal(true);
    });
  });
});
