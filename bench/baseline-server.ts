/**
 * The floor: a bare @grpc/grpc-js Authorization server with keybroker's own codec and
 * server options, answering every Check with one constant OK CheckResponse, encoded once.
 *
 *   node bench/baseline-server.ts unix:///tmp/baseline.sock
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { authorizationServerDefinition } from '../src/envoy/codec.ts';
import { authorizationService } from '../src/envoy/proto.ts';
import { SERVER_OPTIONS } from '../src/server/grpc.ts';

const target = process.argv[2];
if (!target) throw new Error('usage: node bench/baseline-server.ts ADDRESS');

const OK = authorizationService()['Check']!.responseSerialize({
  status: { code: 0 },
  ok_response: { headers: [{ header: { key: 'authorization', value: 'Bearer sk-baseline' }, append: { value: false } }], headers_to_remove: [] },
});
const server = new Server(SERVER_OPTIONS);
server.addService(authorizationServerDefinition(), { Check: (_call: unknown, callback: (e: null, r: Buffer) => void) => callback(null, OK) });
server.bindAsync(target, ServerCredentials.createInsecure(), (error) => {
  if (error) throw error;
  console.log('baseline listening');
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
