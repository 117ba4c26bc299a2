/**
 * A configuration whose rules read request bodies: OpenAI and Anthropic destinations
 * bounded by model, output tokens, streaming and tools; an MCP server bounded by
 * method, tool and argument; a deny rule on destructive tools. Shared by the integration
 * and end-to-end tests of body rules.
 */
import { baseConfig } from './broker.ts';

export const RESEARCH = 'spiffe://example.org/ns/research/agent';
export const BATCH = 'spiffe://example.org/ns/batch/agent';
export const WRITER = 'spiffe://example.org/ns/writing/writer';

export function bodyRulesConfig(upstreams: { openai?: string; anthropic?: string; mcp?: string } = {}): Record<string, unknown> {
  const base = baseConfig();
  const destinations = base['destinations'] as Record<string, Record<string, unknown>>;
  return {
    ...base,
    destinations: {
      ...destinations,
      openai: { ...destinations['openai'], api: 'openai', ...(upstreams.openai ? { upstream: upstreams.openai } : {}) },
      anthropic: { ...destinations['anthropic'], api: 'anthropic', ...(upstreams.anthropic ? { upstream: upstreams.anthropic } : {}) },
      mcp: {
        upstream: upstreams.mcp ?? 'mcp.example.org',
        authorities: ['gateway.local'],
        routePrefix: '/mcp',
        inject: { header: 'authorization', value: 'Bearer ${key}' },
        key: 'openai/prod',
        api: 'mcp',
      },
    },
    policy: [
      {
        id: 'research-chat',
        identities: ['spiffe://example.org/ns/research/*'],
        destinations: ['openai'],
        methods: ['POST'],
        paths: ['/v1/chat/completions', '/v1/responses', '/v1/embeddings'],
        models: ['gpt-4o-mini', 'text-embedding-3-*'],
        maxOutputTokens: 4096,
        tools: ['search_*', 'get_issue'],
      },
      { id: 'research-models', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models', '/v1/models/*'] },
      { id: 'no-preview-models', effect: 'deny', identities: ['spiffe://example.org/*'], destinations: ['openai'], methods: ['POST'], models: ['gpt-4o-mini-preview*'] },
      { id: 'batch-chat', identities: [BATCH], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'], models: ['gpt-4o-mini'], stream: false },
      { id: 'writer-messages', identities: [WRITER], destinations: ['anthropic'], methods: ['POST'], paths: ['/v1/messages'], models: ['claude-3-5-haiku-*'], maxOutputTokens: 2048 },
      {
        id: 'research-mcp',
        identities: ['spiffe://example.org/ns/research/*'],
        destinations: ['mcp'],
        methods: ['POST'],
        paths: ['/*'],
        mcpMethods: ['initialize', 'notifications/initialized', 'ping', 'tools/list', 'tools/call'],
        tools: ['search_*', 'get_issue', 'delete_repository'],
        arguments: { get_issue: { repo: { prefix: 'acme/', regex: '^acme/[a-z0-9-]{1,64}$' } }, search_code: { query: { maxLength: 200 } }, search_issues: { state: { oneOf: ['open', 'closed'] } } },
      },
      { id: 'research-mcp-session', identities: ['spiffe://example.org/ns/research/*'], destinations: ['mcp'], methods: ['GET', 'DELETE'], paths: ['/*'] },
      { id: 'no-destructive-tools', effect: 'deny', identities: ['spiffe://example.org/*'], destinations: ['mcp'], methods: ['POST'], tools: ['delete_*'] },
      { id: 'research-tools', identities: ['spiffe://example.org/ns/research/*'], destinations: ['tools'], methods: ['*'], paths: ['/*'] },
    ],
  };
}
