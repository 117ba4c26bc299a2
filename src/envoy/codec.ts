/**
 * The Check method's wire codec, straight on protobufjs's reflected types: decode to the
 * message object and encode from a plain object, skipping proto-loader's toObject and
 * fromObject conversions, which cost more than the rest of a Check. Field names are the
 * proto's (keepCase); the well-known types (Struct, BoolValue) keep their camelCase.
 */
import { accessSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { PROTO_INCLUDE_DIRS } from './proto.ts';
import type { CheckRequestMessage } from './request.ts';
import type { CheckResponseMessage } from './response.ts';

const require = createRequire(import.meta.url);

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

let types: { request: protobuf.Type; response: protobuf.Type } | undefined;

function checkTypes() {
  if (!types) {
    // Envoy's option annotations import google/protobuf/descriptor.proto, which protobufjs
    // ships as JSON but does not register among its common protos by itself.
    const descriptor = require('protobufjs/google/protobuf/descriptor.json') as { nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } } };
    protobuf.common('descriptor', descriptor.nested.google.nested.protobuf.nested as protobuf.INamespace);
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => {
      for (const dir of PROTO_INCLUDE_DIRS) {
        const candidate = join(dir, target);
        try {
          accessSync(candidate);
          return candidate;
        } catch {
          // not under this include dir
        }
      }
      return target;
    };
    root.loadSync('envoy/service/auth/v3/external_auth.proto', { keepCase: true });
    root.resolveAll();
    types = { request: root.lookupType('envoy.service.auth.v3.CheckRequest'), response: root.lookupType('envoy.service.auth.v3.CheckResponse') };
  }
  return types;
}

export function decodeCheckRequest(bytes: Buffer): CheckRequestMessage {
  return checkTypes().request.decode(bytes) as unknown as CheckRequestMessage;
}

export function encodeCheckResponse(response: CheckResponseMessage): Buffer {
  const bytes = checkTypes().response.encode(response as unknown as protobuf.Message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The Authorization service for grpc-js's Server, served with the codec above. */
export function authorizationServerDefinition(): ServiceDefinition {
  const { request, response } = checkTypes();
  return {
    Check: {
      path: CHECK_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: (message: object) => Buffer.from(request.encode(message as protobuf.Message).finish()),
      requestDeserialize: decodeCheckRequest,
      responseSerialize: encodeCheckResponse,
      responseDeserialize: (bytes: Buffer) => response.decode(bytes),
      originalName: 'check',
    },
  } as ServiceDefinition;
}
