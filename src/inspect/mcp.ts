/**
 * Facts from an MCP message (JSON-RPC 2.0 over streamable HTTP): the method, and for
 * `tools/call` the tool and its arguments.
 *
 * A batch (a JSON array) is refused: MCP dropped batching in its 2025-06-18 revision, and
 * a checker that read one element of a batch would let the others through unread.
 */
import { Denial } from '../lib/denial.ts';
import { readKeys, refuseFoldedTwins, refuseKeyVariants, topLevelObject } from './object-keys.ts';
import { asObject, nameFact, own, type BodyFacts } from './types.ts';

const READ = readKeys(['jsonrpc', 'method', 'params', 'id', 'result', 'error']);
const PARAMS_READ = readKeys(['name', 'arguments']);

export function mcpFacts(json: unknown): BodyFacts {
  if (Array.isArray(json)) throw new Denial('body_unreadable', 'the request body is a JSON-RPC batch; keybroker reads one message per request');
  const message = topLevelObject(json, READ);
  if (own(message, 'jsonrpc') !== '2.0') throw new Denial('body_unreadable', 'the request body is not a JSON-RPC 2.0 message');
  if (!Object.hasOwn(message, 'method')) {
    // A response to a request the server made (sampling, elicitation): no method, no tool.
    return { api: 'mcp', stream: false, tools: [] };
  }
  const method = nameFact(own(message, 'method'));
  const params = own(message, 'params');
  const paramsObject = asObject(params);
  if (params !== undefined && !paramsObject) throw new Denial('body_unreadable', 'the JSON-RPC params are not an object');
  if (paramsObject) refuseKeyVariants(paramsObject, PARAMS_READ);
  if (method !== 'tools/call') return { api: 'mcp', mcpMethod: method, stream: false, tools: [] };

  const toolName = nameFact(paramsObject ? own(paramsObject, 'name') : undefined);
  const args = paramsObject ? own(paramsObject, 'arguments') : undefined;
  const toolArguments = args === undefined ? {} : asObject(args);
  if (!toolArguments) throw new Denial('body_unreadable', 'the tools/call arguments are not an object');
  // Which of two such arguments a server binds depends on its decoder (mcp-go keeps the last in sorted order).
  refuseFoldedTwins(toolArguments, 'the tools/call arguments');
  return { api: 'mcp', operation: 'execute_tool', mcpMethod: method, stream: false, tools: [toolName], toolName, toolArguments };
}
