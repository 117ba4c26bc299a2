/**
 * An Outcome → Envoy's CheckResponse. Allowed: set the injected header (overwriting
 * whatever the agent sent) and remove the agent's credentials. Denied: the status the
 * agent should see and a JSON body naming the reason and the decision id.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { DecisionRecord, Outcome } from '../pipeline/types.ts';

interface HeaderValueOption {
  header: { key: string; value: string };
  /**
   * Spelled out because Envoy's default for an unset `append` has differed between the
   * ext_authz message types and versions; `false` means overwrite-or-add.
   */
  append: { value: boolean };
}

export interface CheckResponseMessage {
  status: { code: number; message?: string };
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove: string[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
  dynamic_metadata: { fields: Record<string, { stringValue: string }> };
}

export function toCheckResponse(outcome: Outcome): CheckResponseMessage {
  const dynamic_metadata = metadataOf(outcome.record);
  if (outcome.allow) {
    const { injection, secret } = outcome;
    return {
      status: { code: GrpcStatus.OK },
      ok_response: {
        headers: [{ header: { key: injection.header, value: injection.prefix + secret.reveal() + injection.suffix }, append: { value: false } }],
        headers_to_remove: [...outcome.removeHeaders],
      },
      dynamic_metadata,
    };
  }
  const { denial, record } = outcome;
  return {
    status: { code: denial.status === 401 ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.PERMISSION_DENIED },
    denied_response: {
      status: { code: denial.status },
      headers: [{ header: { key: 'content-type', value: 'application/json' }, append: { value: false } }],
      body: JSON.stringify({ error: errorText(denial.status), reason: denial.reason, decision_id: record.decisionId }),
    },
    dynamic_metadata,
  };
}

function errorText(status: number): string {
  switch (status) {
    case 400: return 'bad_request';
    case 401: return 'unauthenticated';
    case 403: return 'forbidden';
    case 503: return 'unavailable';
    default: return 'internal';
  }
}

/** Decision facts for Envoy's access log (`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:…)%`). */
function metadataOf(record: DecisionRecord): CheckResponseMessage['dynamic_metadata'] {
  const fields: Record<string, { stringValue: string }> = {
    decision_id: { stringValue: record.decisionId },
    decision: { stringValue: record.decision },
    reason: { stringValue: record.reason },
  };
  if (record.identity) fields['identity'] = { stringValue: record.identity };
  if (record.destination) fields['destination'] = { stringValue: record.destination };
  if (record.rule) fields['rule'] = { stringValue: record.rule };
  if (record.keyId) fields['key_id'] = { stringValue: record.keyId };
  if (record.policyVersion) fields['policy_version'] = { stringValue: record.policyVersion };
  return { fields };
}
