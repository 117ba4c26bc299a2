/**
 * keybroker's own gRPC services (proto/keybroker/…/v1), loaded with proto-loader for the
 * admin and token listeners and their clients. Only these low-rate services load protos
 * at run time: Check reads and writes its wire by hand (src/envoy/codec.ts).
 */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));

/** As `npm run api:types` generates the types in ./generated: snake_case, defaults filled. */
const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT] };

const cache = new Map<string, ServiceClientConstructor>();

function service(file: string, path: readonly string[]): ServiceClientConstructor {
  const key = path.join('.');
  let found = cache.get(key);
  if (!found) {
    let node: GrpcObject | ServiceClientConstructor = loadPackageDefinition(loadSync(file, LOADER_OPTIONS));
    for (const part of path) node = (node as GrpcObject)[part] as GrpcObject | ServiceClientConstructor;
    found = node as ServiceClientConstructor;
    cache.set(key, found);
  }
  return found;
}

export const ADMIN_SERVICE = 'keybroker.admin.v1.AdminService';
export const TOKEN_SERVICE = 'keybroker.token.v1.TokenService';

/** The admin service's client constructor; `.service` is its server definition. */
export function adminService(): ServiceClientConstructor {
  return service('keybroker/admin/v1/admin.proto', ADMIN_SERVICE.split('.'));
}

export function tokenService(): ServiceClientConstructor {
  return service('keybroker/token/v1/token.proto', TOKEN_SERVICE.split('.'));
}
