/**
 * An Outcome → Envoy's CheckResponse, encoded. Allowed: set the injected header
 * (overwriting whatever the agent sent) and remove the agent's credentials. Denied: the
 * status the agent should see and a JSON body naming the reason and the decision id
 * (`denial-body.ts` chooses its shape). Both carry the decision's identifiers as dynamic
 * metadata for Envoy's access log.
 *
 * Encoded here rather than by a generic codec because the answer is mostly constant:
 * the status, header mutations and query parameters of an allowed Check depend only on
 * the destination and the key, so they are encoded once per (destination, key version) and kept beside
 * the key; per request only the dynamic metadata is written. Field numbers are those of
 * envoy/service/auth/v3/external_auth.proto and the types it uses.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { DecisionRecord, DenialShape, Destination, Injected, Outcome, ResponseHeader } from '../model/check.ts';
import type { Denial } from '../lib/denial.ts';
import { lenFieldSize, ProtoWriter, stringFieldSize, varintSize } from '../lib/proto-writer.ts';
import { denialAnswer } from './denial-body.ts';

/** The response as a client decodes it (keepCase); what the tests read back. */
export interface CheckResponseMessage {
  status: { code: number; message?: string };
  ok_response?: {
    headers: HeaderValueOption[];
    headers_to_remove: string[];
    response_headers_to_add?: HeaderValueOption[];
    query_parameters_to_set?: Array<{ key: string; value: string }>;
    query_parameters_to_remove?: string[];
  };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
  dynamic_metadata: { fields: Record<string, { stringValue: string }> };
}

interface HeaderValueOption {
  header: { key: string; value: string };
  append: { value: boolean };
}

// envoy.service.auth.v3.CheckResponse, OkHttpResponse, DeniedHttpResponse
const RESPONSE = { status: 1, denied: 2, ok: 3, dynamicMetadata: 4 } as const;
const OK = { headers: 2, headersToRemove: 5, responseHeadersToAdd: 6, queryParametersToSet: 7 } as const;
const DENIED = { status: 1, headers: 2, body: 3 } as const;
// google.rpc.Status, envoy.type.v3.HttpStatus: `code` is field 1 of both.
const CODE = 1;
// envoy.config.core.v3.HeaderValueOption { header = 1; append = 2 }, HeaderValue { key = 1; value = 2 }
const OPTION = { header: 1, append: 2 } as const;
const BOOL_VALUE = 1; // google.protobuf.BoolValue { bool value = 1 }
const HEADER = { key: 1, value: 2 } as const;
// envoy.config.core.v3.QueryParameter { key = 1; value = 2 }
const QUERY_PARAMETER = { key: 1, value: 2 } as const;
// google.protobuf.Struct { map<string, Value> fields = 1 }, map entry { key = 1; value = 2 }, Value { string_value = 3 }
const STRUCT_FIELDS = 1;
const ENTRY = { key: 1, value: 2 } as const;
const STRING_VALUE = 3;

/**
 * A metadata field: its name, the record's property, and for a value that repeats across
 * Checks (the decision, the reason, the identity, the key id…) the field as encoded for
 * each value seen, so a Check copies it rather than measuring and encoding the strings
 * again. The decision id and the span differ per Check and are always encoded.
 */
type MetadataField = readonly [name: string, field: keyof DecisionRecord, encoded?: EncodedEntries];
type MetadataFields = readonly MetadataField[];

/** Bounded per field: past MAX_ENCODED values (identities, people) it starts over. */
const MAX_ENCODED = 1024;

class EncodedEntries {
  readonly #byValue = new Map<string, Buffer>();
  readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  /** The whole Struct field (tag, length, entry) of `value`. */
  get(value: string): Buffer {
    let bytes = this.#byValue.get(value);
    if (!bytes) {
      const writer = new ProtoWriter(lenFieldSize(entrySize(this.name, value)));
      writeEntry(writer, this.name, value);
      // A copy of its own: the writer's small buffer is a slice of Node's shared 8 KiB
      // pool, and keeping the slice would keep the whole slab alive per value.
      const encoded = writer.finish();
      bytes = Buffer.allocUnsafeSlow(encoded.length);
      encoded.copy(bytes);
      if (this.#byValue.size >= MAX_ENCODED) this.#byValue.clear();
      this.#byValue.set(value, bytes);
    }
    return bytes;
  }
}

const repeating = (name: string, field: keyof DecisionRecord): MetadataField => [name, field, new EncodedEntries(name)];

/**
 * Decision facts for Envoy's access log (`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:…)%`)
 * and for usage metering, which reads them back when Envoy forwards them to ext_proc
 * (`envoy/processing-request.ts`). By default only what those two read: written on every
 * Check, each field costs CPU per request (destination, person and check_span — the last
 * only when tracing is on — add about 100 bytes to an allowed answer).
 * `envoy.dynamicMetadata: full` adds the rest.
 */
const ESSENTIAL_METADATA: MetadataFields = [
  ['decision_id', 'decisionId'],
  repeating('decision', 'decision'),
  repeating('reason', 'reason'),
  repeating('identity', 'identity'),
  repeating('key_id', 'keyId'),
  repeating('destination', 'destination'),
  repeating('person', 'person'),
  ['check_span', 'checkSpan'],
];
const FULL_METADATA: MetadataFields = [...ESSENTIAL_METADATA, repeating('rule', 'rule'), repeating('policy_version', 'policyVersion')];

/**
 * Facts a phase put in the record's attributes that a filter after ext_authz reads, so
 * essential, on allowed answers: the limit's reservation, which the usage record
 * (ext_proc) settles. Absent (costing one property read) when nothing was reserved.
 */
const ATTRIBUTE_METADATA: ReadonlyArray<readonly [string, string]> = [['limit_reservation', 'keybroker.limit.reservation']];

export type DynamicMetadata = 'essential' | 'full';

/** Encoded status + ok_response, per destination and injected credential (so key version); dropped with either. */
const allowedHeads = new WeakMap<Destination, WeakMap<Injected, AllowedHead>>();

export function toCheckResponse(outcome: Outcome, dynamicMetadata: DynamicMetadata = 'essential'): Buffer {
  const fields = dynamicMetadata === 'full' ? FULL_METADATA : ESSENTIAL_METADATA;
  const head = !outcome.allow
    ? deniedHead(outcome.denial, outcome.record.decisionId, outcome.shape)
    : outcome.responseHeaders
      ? withResponseHeaders(allowedHead(outcome.destination, outcome.injected), outcome.responseHeaders)
      : allowedHead(outcome.destination, outcome.injected).bytes;
  // A phase's facts for the filters after ext_authz matter only when the request goes on.
  const attributes = outcome.allow ? outcome.record.attributes : undefined;
  const metadataBytes = metadataSize(outcome.record, fields, attributes);
  const writer = new ProtoWriter(head.length + lenFieldSize(metadataBytes)).raw(head).lenField(RESPONSE.dynamicMetadata, metadataBytes);
  writeMetadata(writer, outcome.record, fields, attributes);
  return writer.finish();
}

/**
 * Sent upstream on metered destinations (`api: openai|anthropic`), overwriting the agent's
 * `accept-encoding`: the usage meter reads only identity-encoded bodies, and an agent that
 * asked for gzip would otherwise get an unmetered response (docs/metering.md). Part of
 * keybroker's answer rather than only the Envoy config, so a config that forgets it still
 * holds.
 */
const IDENTITY_ENCODING = { key: 'accept-encoding', value: 'identity' } as const;

/** The encoded status + ok_response, and where ok_response's own fields start in it. */
interface AllowedHead {
  readonly bytes: Buffer;
  readonly okStart: number;
}

function allowedHead(destination: Destination, injected: Injected): AllowedHead {
  let byInjected = allowedHeads.get(destination);
  if (!byInjected) allowedHeads.set(destination, (byInjected = new WeakMap()));
  let head = byInjected.get(injected);
  if (!head) {
    head = encodeAllowedHead(destination, injected);
    byInjected.set(injected, head);
  }
  return head;
}

/**
 * Status + ok_response: the injected credential and the removals. Constant per
 * destination and credential, so cached; headers for the agent's response (a phase's,
 * e.g. a remaining budget) vary per request and are appended to the cached fields by
 * `withResponseHeaders` (protobuf fields may come in any order).
 */
function encodeAllowedHead(destination: Destination, injected: Injected): AllowedHead {
  const headers = injected.headers.map(([key, value]) => ({ key, value }));
  if (destination.api === 'openai' || destination.api === 'anthropic') headers.push(IDENTITY_ENCODING);
  const query = injected.query.map(([key, value]) => ({ key, value }));
  const { stripHeaders } = destination;
  const okBytes =
    headers.reduce((sum, h) => sum + lenFieldSize(headerOptionSize(h)), 0) +
    stripHeaders.reduce((sum, name) => sum + stringFieldSize(name), 0) +
    query.reduce((sum, parameter) => sum + lenFieldSize(pairSize(parameter)), 0);
  const writer = statusOk(okBytes);
  for (const h of headers) writeHeaderOption(writer, OK.headers, h);
  for (const name of stripHeaders) writer.stringField(OK.headersToRemove, name);
  // Set, not removed-and-added: Envoy overwrites the agent's own copy of the parameter, and
  // applies removals after sets, so removing the same name would drop keybroker's.
  for (const parameter of query) {
    writer.lenField(OK.queryParametersToSet, pairSize(parameter)).stringField(QUERY_PARAMETER.key, parameter.key).stringField(QUERY_PARAMETER.value, parameter.value);
  }
  const bytes = writer.finish();
  return { bytes, okStart: bytes.length - okBytes };
}

function withResponseHeaders(head: AllowedHead, responseHeaders: readonly ResponseHeader[]): Buffer {
  const cached = head.bytes.subarray(head.okStart);
  const writer = statusOk(cached.length + responseHeaders.reduce((sum, h) => sum + lenFieldSize(headerOptionSize(h)), 0)).raw(cached);
  for (const h of responseHeaders) writeHeaderOption(writer, OK.responseHeadersToAdd, h);
  return writer.finish();
}

/** A writer holding the OK status and the start of an ok_response of `okBytes`, sized for all of it. */
function statusOk(okBytes: number): ProtoWriter {
  const statusBytes = 1 + varintSize(GrpcStatus.OK);
  return new ProtoWriter(lenFieldSize(statusBytes) + lenFieldSize(okBytes)).lenField(RESPONSE.status, statusBytes).varintField(CODE, GrpcStatus.OK).lenField(RESPONSE.ok, okBytes);
}

function deniedHead(denial: Denial, decisionId: string, shape: DenialShape | undefined): Buffer {
  const httpStatus = denial.status;
  const grpcCode = httpStatus === 401 ? GrpcStatus.UNAUTHENTICATED : httpStatus === 429 ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.PERMISSION_DENIED;
  const answer = denialAnswer(shape, httpStatus, denial.reason, decisionId);
  const body = answer.body;
  // A phase's own headers for the agent (retry-after) after the shape's.
  const headers = denial.headers ? [...answer.headers, ...denial.headers] : answer.headers;
  const statusBytes = 1 + varintSize(grpcCode);
  const httpStatusBytes = 1 + varintSize(httpStatus);
  const headerBytes = headers.reduce((sum, header) => sum + lenFieldSize(headerOptionSize(header)), 0);
  const deniedBytes = lenFieldSize(httpStatusBytes) + headerBytes + stringFieldSize(body);
  const writer = new ProtoWriter(lenFieldSize(statusBytes) + lenFieldSize(deniedBytes))
    .lenField(RESPONSE.status, statusBytes)
    .varintField(CODE, grpcCode)
    .lenField(RESPONSE.denied, deniedBytes)
    .lenField(DENIED.status, httpStatusBytes)
    .varintField(CODE, httpStatus);
  for (const header of headers) writeHeaderOption(writer, DENIED.headers, header);
  return writer.stringField(DENIED.body, body).finish();
}

/**
 * A HeaderValueOption's payload. `append` is spelled out (false: overwrite-or-add)
 * because Envoy's default for it has differed between versions; zero values (here and
 * in the status code) are written rather than left implicit, so every decoder shows them.
 */
function headerOptionSize(header: { key: string; value: string }): number {
  return lenFieldSize(pairSize(header)) + lenFieldSize(APPEND_FALSE_BYTES);
}

/** HeaderValue and QueryParameter alike: `key = 1; value = 2`. */
function pairSize(pair: { key: string; value: string }): number {
  return stringFieldSize(pair.key) + stringFieldSize(pair.value);
}

const APPEND_FALSE_BYTES = 2; // BoolValue { value (1) = false }: a tag and a zero

function writeHeaderOption(writer: ProtoWriter, field: number, header: { key: string; value: string }): void {
  writer
    .lenField(field, headerOptionSize(header))
    .lenField(OPTION.header, pairSize(header))
    .stringField(HEADER.key, header.key)
    .stringField(HEADER.value, header.value)
    .lenField(OPTION.append, APPEND_FALSE_BYTES)
    .varintField(BOOL_VALUE, 0);
}

function entrySize(name: string, value: string): number {
  return stringFieldSize(name) + lenFieldSize(stringFieldSize(value));
}

type Attributes = DecisionRecord['attributes'];

function metadataSize(record: DecisionRecord, fields: MetadataFields, attributes: Attributes): number {
  let bytes = 0;
  for (const [name, field, encoded] of fields) {
    const value = record[field];
    if (typeof value === 'string' && value !== '') bytes += encoded ? encoded.get(value).length : lenFieldSize(entrySize(name, value));
  }
  if (attributes) {
    for (const [name, attribute] of ATTRIBUTE_METADATA) {
      const value = attributes[attribute];
      if (typeof value === 'string' && value !== '') bytes += lenFieldSize(entrySize(name, value));
    }
  }
  return bytes;
}

function writeMetadata(writer: ProtoWriter, record: DecisionRecord, fields: MetadataFields, attributes: Attributes): void {
  for (const [name, field, encoded] of fields) {
    const value = record[field];
    if (encoded && typeof value === 'string' && value !== '') writer.raw(encoded.get(value));
    else writeEntry(writer, name, value);
  }
  if (attributes) for (const [name, attribute] of ATTRIBUTE_METADATA) writeEntry(writer, name, attributes[attribute]);
}

function writeEntry(writer: ProtoWriter, name: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') return;
  writer.lenField(STRUCT_FIELDS, entrySize(name, value)).stringField(ENTRY.key, name).lenField(ENTRY.value, stringFieldSize(value)).stringField(STRING_VALUE, value);
}
