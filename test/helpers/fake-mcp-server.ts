/**
 * An MCP server for the end-to-end tests: the SDK's own server and streamable HTTP
 * transport (stateless, one server per request) over HTTPS under a test CA, with three
 * tools whose work is faked. It records every request body exactly as it arrived.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import type { Issued } from '../../scripts/dev-pki.ts';

export interface FakeMcpServer {
  readonly port: number;
  /** Raw request bodies (POSTs), in arrival order. */
  readonly bodies: string[];
  /** Tool calls that reached a tool. */
  readonly calls: Array<{ tool: string; args: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startFakeMcpServer(certificate: Issued): Promise<FakeMcpServer> {
  const bodies: string[] = [];
  const calls: FakeMcpServer['calls'] = [];
  const tools = (): McpServer => {
    const mcp = new McpServer({ name: 'fake-tools', version: '1.0.0' });
    const tool = (name: string, shape: Record<string, z.ZodType>) =>
      mcp.registerTool(name, { description: `${name} (fake)`, inputSchema: shape }, async (args: Record<string, unknown>) => {
        calls.push({ tool: name, args });
        return { content: [{ type: 'text' as const, text: `${name} done` }] };
      });
    tool('search_code', { query: z.string() });
    tool('get_issue', { repo: z.string() });
    tool('delete_repository', { repo: z.string() });
    return mcp;
  };
  const server: Server = createServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.method !== 'POST') {
          // Stateless: no server-initiated stream to open, no session to end.
          res.writeHead(405, { allow: 'POST' }).end();
          return;
        }
        const text = Buffer.concat(chunks).toString('utf8');
        bodies.push(text);
        const mcp = tools();
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        res.on('close', () => {
          void transport.close();
          void mcp.close();
        });
        await mcp.connect(transport);
        await transport.handleRequest(req, res, JSON.parse(text));
      })().catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    bodies,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
