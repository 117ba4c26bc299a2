/**
 * The usage record as an OpenTelemetry span: `keybroker.usage`, a child of its decision's
 * `keybroker.check` span when the Check was traced (its context reaches keybroker again
 * through Envoy, in the forwarded ext_authz metadata `check_span`), else the root of a
 * trace of its own; either way it carries the decision id. From when the request headers
 * reached keybroker to when the response ended. Identifiers and counts only.
 */
import { ROOT_CONTEXT, SpanKind, type Attributes, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { UsageRecord, UsageSink } from '../usage/record.ts';
import { ATTR } from './span.ts';

/** The usage span's attributes beyond the decision's own (ATTR); documented in docs/metering.md. */
export const USAGE_ATTR = {
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cachedInputTokens: 'keybroker.usage.cached_input_tokens',
  model: 'gen_ai.response.model',
  provider: 'gen_ai.provider.name',
  cost: 'keybroker.cost.usd',
  metered: 'keybroker.usage.metered',
  cause: 'keybroker.usage.unmetered_cause',
  reservation: 'keybroker.limit.reservation',
} as const;

const propagator = new W3CTraceContextPropagator();
const getter: TextMapGetter<string> = {
  keys: () => ['traceparent'],
  get: (carrier, key) => (key === 'traceparent' ? carrier : undefined),
};

export function usageSpanSink(tracer: Tracer): UsageSink {
  return (record) => {
    const parent = record.checkSpan ? propagator.extract(ROOT_CONTEXT, record.checkSpan, getter) : ROOT_CONTEXT;
    const span = tracer.startSpan('keybroker.usage', { kind: SpanKind.INTERNAL, startTime: record.startTime, attributes: usageAttributes(record) }, parent);
    span.end(record.endTime);
  };
}

export function usageAttributes(record: UsageRecord): Attributes {
  const attributes: Attributes = {
    [ATTR.decisionId]: record.decisionId,
    [ATTR.agentId]: record.identity,
    [ATTR.destination]: record.destination,
    [USAGE_ATTR.provider]: record.api,
    [USAGE_ATTR.metered]: record.metered,
    [USAGE_ATTR.inputTokens]: record.inputTokens,
    [USAGE_ATTR.outputTokens]: record.outputTokens,
    [USAGE_ATTR.cachedInputTokens]: record.cachedInputTokens,
  };
  if (record.person !== undefined) attributes[ATTR.person] = record.person;
  if (record.model !== undefined) attributes[USAGE_ATTR.model] = record.model;
  if (record.cause !== undefined) attributes[USAGE_ATTR.cause] = record.cause;
  if (record.cost) attributes[USAGE_ATTR.cost] = record.cost.usd;
  if (record.keyId !== undefined) attributes[ATTR.keyId] = record.keyId;
  if (record.reservationId !== undefined) attributes[USAGE_ATTR.reservation] = record.reservationId;
  return attributes;
}
