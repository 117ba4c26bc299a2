/**
 * A denial as the agent's SDK reads it. An SDK shows its user what it finds in the error
 * shape of the API it was written for and ignores the rest, so the reason goes where that
 * SDK looks: OpenAI's `error.message` and `error.code`, Anthropic's `error.message` and
 * `error.details.error_code`. Other destinations get keybroker's own JSON. Every shape
 * carries the decision id, and the response carries it as the request id header the SDKs
 * expose (`x-request-id`; Anthropic's SDK reads `request-id`).
 *
 * Only the reason's fixed text goes here, never a phase's detail: the body reaches the
 * agent, and the detail is for operators.
 */
import { REASONS, type Reason } from '../lib/denial.ts';
import type { DenialShape } from '../model/check.ts';

export interface DenialAnswer {
  readonly body: string;
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: string }>;
}

export function denialAnswer(shape: DenialShape | undefined, status: number, reason: Reason, decisionId: string): DenialAnswer {
  const message = `keybroker denied this request (${reason}): ${REASONS[reason].error}`;
  const headers = [{ key: 'content-type', value: 'application/json' }, { key: 'x-request-id', value: decisionId }, ...(shape === 'anthropic' ? [{ key: 'request-id', value: decisionId }] : [])];
  switch (shape) {
    case 'openai':
      return { headers, body: JSON.stringify({ error: { message, type: errorType(status, 'server_error'), code: reason }, decision_id: decisionId }) };
    case 'anthropic':
      // details.error_code is where Anthropic's SDK finds a machine-readable code (errorCode).
      return { headers, body: JSON.stringify({ type: 'error', error: { type: errorType(status, 'api_error'), message, details: { error_code: reason } }, decision_id: decisionId }) };
    default:
      return { headers, body: JSON.stringify({ error: genericError(status), reason, message, decision_id: decisionId }) };
  }
}

/** The error `type` both provider APIs use for a status (they agree below 500). */
function errorType(status: number, serverError: string): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 429:
      return 'rate_limit_error';
    default:
      return serverError;
  }
}

function genericError(status: number): string {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'forbidden';
    case 429:
      return 'too_many_requests';
    case 503:
      return 'unavailable';
    default:
      return 'internal';
  }
}
