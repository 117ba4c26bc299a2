/**
 * The admin service's methods, from request message to response message, on the parts
 * of the running keybroker. No gRPC here: src/admin/server.ts serves these, checks the
 * caller and audits each call.
 */
import { parseSpiffeId } from '../identity/spiffe-id.ts';
import { explainDecision } from '../pipeline/explain.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import { whatCan, whoCan } from '../policy/access-review.ts';
import { reviewMessage } from './review-message.ts';
import type { ExplainRequest__Output } from '../api/generated/keybroker/admin/v1/ExplainRequest.ts';
import type { ExplainResponse } from '../api/generated/keybroker/admin/v1/ExplainResponse.ts';
import type { WhoCanRequest__Output } from '../api/generated/keybroker/admin/v1/WhoCanRequest.ts';
import type { WhoCanResponse } from '../api/generated/keybroker/admin/v1/WhoCanResponse.ts';
import type { CanRequest__Output } from '../api/generated/keybroker/admin/v1/CanRequest.ts';
import type { CanResponse } from '../api/generated/keybroker/admin/v1/CanResponse.ts';
import type { StatusResponse } from '../api/generated/keybroker/admin/v1/StatusResponse.ts';
import type { ReloadResponse } from '../api/generated/keybroker/admin/v1/ReloadResponse.ts';
import type { GetJwksResponse } from '../api/generated/keybroker/admin/v1/GetJwksResponse.ts';

/** A request the admin service refuses to act on; the message says what was expected. */
export class AdminInputError extends Error {
  override readonly name = 'AdminInputError';
  readonly code = 'ERR_ADMIN_INPUT';
}

export interface AdminDeps {
  readonly runtime: () => Runtime;
  readonly status: () => Promise<StatusResponse>;
  /** Reloads the configuration file; `error` says why it was rejected. */
  readonly reload: () => Promise<{ readonly applied: boolean; readonly error?: string | undefined }>;
  /** The gateway-token verification keys as a JWKS (JSON); no keys when tokens are off. */
  readonly jwks: () => string;
}

export interface AdminMethods {
  Explain(request: ExplainRequest__Output): Promise<ExplainResponse>;
  WhoCan(request: WhoCanRequest__Output): Promise<WhoCanResponse>;
  Can(request: CanRequest__Output): Promise<CanResponse>;
  Status(request: object): Promise<StatusResponse>;
  Reload(request: object): Promise<ReloadResponse>;
  GetJwks(request: object): Promise<GetJwksResponse>;
}

export function adminMethods(deps: AdminDeps): AdminMethods {
  return {
    async Explain(request) {
      const query = {
        identity: spiffeId('identity', request.identity),
        destination: name('destination', request.destination),
        method: httpMethod(request.method, true),
        path: httpPath(request.path, true),
        authority: request.authority ? hostName(request.authority) : undefined,
      };
      const { record, shadow, candidate } = await explainDecision(deps.runtime(), query);
      return {
        decision: {
          decision: record.decision,
          reason: record.reason,
          status: record.status,
          rule: record.rule ?? '',
          policy_version: record.policyVersion ?? '',
          identity: record.identity ?? '',
          destination: record.destination ?? '',
          key_id: record.keyId ?? '',
          detail: record.detail ?? '',
          shadow: shadow ?? '',
          candidate: candidate ?? '',
        },
      };
    },
    async WhoCan(request) {
      const runtime = deps.runtime();
      const review = whoCan(runtime.policy, {
        destination: name('destination', request.destination),
        method: httpMethod(request.method, false) || undefined,
        path: httpPath(request.path, false) || undefined,
      });
      return reviewMessage(review, runtime.policy.version);
    },
    async Can(request) {
      const runtime = deps.runtime();
      const destination = request.destination ? name('destination', request.destination) : undefined;
      const review = whatCan(runtime.policy, { identity: spiffeId('identity', request.identity), destination });
      return reviewMessage(review, runtime.policy.version);
    },
    Status: () => deps.status(),
    async Reload() {
      const result = await deps.reload();
      return { applied: result.applied, errors: result.error ? [result.error] : [], policy_version: deps.runtime().policy.version };
    },
    async GetJwks() {
      return { jwks: deps.jwks() };
    },
  };
}

function spiffeId(field: string, value: string): string {
  try {
    parseSpiffeId(value);
  } catch (error) {
    throw new AdminInputError(`${field}: expected a SPIFFE ID such as spiffe://example.org/agent: ${(error as Error).message}`);
  }
  return value;
}

function name(field: string, value: string): string {
  if (!/^[a-z0-9][a-z0-9_-]{0,127}$/.test(value)) throw new AdminInputError(`${field}: expected a destination name of lowercase letters, digits, "-" and "_"`);
  return value;
}

function httpMethod(value: string, required: boolean): string {
  if (!value && !required) return '';
  const upper = value.toUpperCase();
  if (!/^[A-Z]{1,16}$/.test(upper)) throw new AdminInputError('method: expected an HTTP method such as POST');
  return upper;
}

function hostName(value: string): string {
  if (!/^[a-z0-9.-]{1,253}(:\d{1,5})?$/i.test(value)) throw new AdminInputError('authority: expected a host name, optionally with :port');
  return value;
}

function httpPath(value: string, required: boolean): string {
  if (!value && !required) return '';
  if (!value.startsWith('/') || value.length > 2048 || /[\s?#]/.test(value)) throw new AdminInputError('path: expected an absolute path without query, such as /v1/chat/completions');
  return value;
}
