/**
 * Envoy's ext_authz and ext_proc APIs, loaded from the protos vendored in third_party/envoy-api (pinned
 * to the Envoy release the project ships, see its README): the client side, for tests
 * and the benchmark. The server reads and writes the wire itself (codec.ts, response.ts).
 */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

/** Where Envoy's data-plane-api and its imports live: one include root. */
export const ENVOY_PROTO_ROOT = fileURLToPath(new URL('../../third_party/envoy-api/', import.meta.url));
const PROTO_INCLUDE_DIRS = [ENVOY_PROTO_ROOT];

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
export const EXTERNAL_PROCESSOR_SERVICE = 'envoy.service.ext_proc.v3.ExternalProcessor';

/**
 * keepCase keeps Envoy's snake_case field names. Well-known types (Struct, BoolValue,
 * Timestamp) are mapped by protobufjs wrappers and keep their camelCase fields regardless.
 */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  defaults: false,
  oneofs: true,
  includeDirs: PROTO_INCLUDE_DIRS,
};

let cached: GrpcObject | undefined;

function authPackage(): GrpcObject {
  cached ??= loadPackageDefinition(loadSync('envoy/service/auth/v3/external_auth.proto', LOADER_OPTIONS));
  return cached;
}

function authorizationClient(): ServiceClientConstructor {
  const envoy = authPackage()['envoy'] as GrpcObject;
  const service = envoy['service'] as GrpcObject;
  const auth = service['auth'] as GrpcObject;
  return (auth['v3'] as GrpcObject)['Authorization'] as ServiceClientConstructor;
}

export function authorizationService(): ServiceDefinition {
  return authorizationClient().service;
}

/** A client constructor, for tests and the benchmark's request encoder. */
export function authorizationClientConstructor(): ServiceClientConstructor {
  return authorizationClient();
}

let processorCached: ServiceClientConstructor | undefined;

/** An ExternalProcessor client constructor, for tests that speak to Process as Envoy does. */
export function externalProcessorClientConstructor(): ServiceClientConstructor {
  if (!processorCached) {
    const loaded = loadPackageDefinition(loadSync('envoy/service/ext_proc/v3/external_processor.proto', LOADER_OPTIONS));
    const extProc = ((loaded['envoy'] as GrpcObject)['service'] as GrpcObject)['ext_proc'] as GrpcObject;
    processorCached = (extProc['v3'] as GrpcObject)['ExternalProcessor'] as ServiceClientConstructor;
  }
  return processorCached;
}
