/**
 * The audit record as an OpenTelemetry span: one `keybroker.check` SERVER span per
 * decision. Its parent is Envoy's own span when Envoy sent trace context with the Check
 * (gRPC metadata, which an agent cannot write); the trace context the agent's request
 * carried is a link, for correlation — it can neither place the record in a trace of the
 * agent's choosing nor, through its sampled flag, keep it from being exported (the
 * tracer samples every span: telemetry.ts).
 * Attributes carry identifiers only — the key id, never the key; no token, no header value.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Link, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { DecisionRecord, TraceContext } from '../model/check.ts';
import type { Auditor } from './auditor.ts';

/** The audit record's attributes; documented in docs/audit-record.md. */
export const ATTR = {
  decisionId: 'keybroker.decision_id',
  decision: 'keybroker.decision',
  reason: 'keybroker.reason',
  agentId: 'keybroker.agent.id',
  agentProof: 'keybroker.agent.proof',
  person: 'enduser.id',
  destination: 'keybroker.destination',
  upstream: 'server.address',
  classification: 'keybroker.data.classification',
  policyVersion: 'keybroker.policy.version',
  rule: 'keybroker.policy.rule',
  keyId: 'keybroker.key.id',
  method: 'http.request.method',
  model: 'gen_ai.request.model',
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  mcpMethod: 'mcp.method.name',
  tool: 'gen_ai.tool.name',
  errorType: 'error.type',
  shadowDecision: 'keybroker.shadow.decision',
  shadowReason: 'keybroker.shadow.reason',
  shadowRule: 'keybroker.shadow.rule',
  candidateDecision: 'keybroker.candidate.decision',
  candidateReason: 'keybroker.candidate.reason',
  candidateRule: 'keybroker.candidate.rule',
} as const;

const propagator = new W3CTraceContextPropagator();
const getter: TextMapGetter<TraceContext | undefined> = {
  keys: (carrier) => Object.keys(carrier ?? {}),
  get: (carrier, key) => (key === 'traceparent' ? carrier?.traceparent : key === 'tracestate' ? carrier?.tracestate : undefined),
};

export function spanAuditor(tracer: Tracer): Auditor {
  return {
    record(record) {
      const parent = record.traceContext ? propagator.extract(ROOT_CONTEXT, record.traceContext, getter) : ROOT_CONTEXT;
      const end = Date.now();
      const links = callerLink(record.callerTraceContext);
      const span = tracer.startSpan('keybroker.check', { kind: SpanKind.SERVER, startTime: end - record.durationMs, attributes: attributesOf(record), ...(links ? { links } : {}) }, parent);
      if (record.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: record.reason });
      span.end(end);
      // For the allowed answer's metadata: Envoy forwards it to ext_proc, whose usage span
      // becomes this span's child (audit/usage-span.ts). Only allowed requests are metered.
      if (record.decision === 'allow') {
        const { traceId, spanId } = span.spanContext();
        record.checkSpan = `00-${traceId}-${spanId}-01`;
      }
    },
  };
}

/** The agent's trace context as a link, when it parses; its sampled flag plays no part. */
function callerLink(context: TraceContext | undefined): Link[] | undefined {
  if (!context) return undefined;
  const spanContext = trace.getSpanContext(propagator.extract(ROOT_CONTEXT, context, getter));
  return spanContext ? [{ context: spanContext, attributes: { 'keybroker.link': 'caller' } }] : undefined;
}

export function attributesOf(record: DecisionRecord): Attributes {
  const attributes: Attributes = {
    [ATTR.decisionId]: record.decisionId,
    [ATTR.decision]: record.decision,
    [ATTR.reason]: record.reason,
    [ATTR.method]: record.method,
  };
  const optional: Array<[string, string | undefined]> = [
    [ATTR.agentId, record.identity],
    [ATTR.agentProof, record.proof],
    [ATTR.person, record.person],
    [ATTR.destination, record.destination],
    [ATTR.upstream, record.upstream],
    [ATTR.classification, record.classification],
    [ATTR.policyVersion, record.policyVersion],
    [ATTR.rule, record.rule],
    [ATTR.keyId, record.keyId],
    [ATTR.model, record.model],
    [ATTR.operation, record.operation],
    [ATTR.provider, record.provider],
    [ATTR.mcpMethod, record.mcpMethod],
    [ATTR.tool, record.tool],
    [ATTR.errorType, record.status >= 500 ? record.reason : undefined],
    [ATTR.shadowDecision, record.shadow?.decision],
    [ATTR.shadowReason, record.shadow?.reason],
    [ATTR.shadowRule, record.shadow?.rule],
    [ATTR.candidateDecision, record.candidate?.decision],
    [ATTR.candidateReason, record.candidate?.reason],
    [ATTR.candidateRule, record.candidate?.rule],
  ];
  for (const [name, value] of optional) if (value !== undefined) attributes[name] = value;
  // A phase's own facts never overwrite the record's fields above.
  if (record.attributes) for (const [name, value] of Object.entries(record.attributes)) attributes[name] ??= value;
  return attributes;
}
