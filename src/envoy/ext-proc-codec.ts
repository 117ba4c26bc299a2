/**
 * The ExternalProcessor/Process method on the wire, for grpc-js's Server. Like the Check
 * codec (codec.ts), each ProcessingRequest is walked once for the few fields keybroker
 * reads — which part of the exchange it carries, headers, the body chunk, end of stream,
 * the forwarded dynamic metadata — and the rest is skipped unread. A message that does not
 * decode becomes a `failed` view rather than an exception, so the handler drops the stream
 * and counts it (grpc-js would otherwise end the call on its own, uncounted).
 *
 * Envoy repeats the forwarded metadata in every message of a stream; it is decoded only
 * with headers and trailers, where keybroker reads it, never with each body chunk.
 *
 * Field numbers are those of envoy/service/ext_proc/v3/external_processor.proto,
 * envoy/config/core/v3/base.proto and google/protobuf/struct.proto.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { lenTag, ProtoReader } from '../lib/proto-reader.ts';

export const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';

export type ProcessingPart = 'request_headers' | 'response_headers' | 'request_body' | 'response_body' | 'request_trailers' | 'response_trailers';

export interface HeaderEntry {
  key: string;
  value: string;
  rawValue?: Buffer;
}

/** What keybroker reads of a ProcessingRequest. */
export interface ProcessingRequestView {
  /** The `request` oneof's case; undefined when the message sets none. */
  part?: ProcessingPart;
  /** Headers or trailers, as sent (Envoy puts values in `raw_value`). */
  headers: HeaderEntry[];
  /** A body chunk: a view into the message. */
  body?: Buffer;
  endOfStream: boolean;
  /** metadata_context.filter_metadata: namespace → the Struct's string fields (others skipped); empty with a body chunk. */
  metadata: Map<string, Map<string, string>>;
  /** `attributes`: the filter's name → the Struct's string fields, e.g. `request.id` (response_attributes). */
  attributes: Map<string, Map<string, string>>;
  observabilityMode: boolean;
}

export interface UndecodableRequest {
  readonly failed: string;
}

const PART_BY_TAG = new Map<number, ProcessingPart>([
  [lenTag(2), 'request_headers'],
  [lenTag(3), 'response_headers'],
  [lenTag(4), 'request_body'],
  [lenTag(5), 'response_body'],
  [lenTag(6), 'request_trailers'],
  [lenTag(7), 'response_trailers'],
]);
const REQUEST = { metadataContext: lenTag(8), attributes: lenTag(9), observabilityMode: 10 << 3 };
// HttpHeaders { headers = 1; end_of_stream = 3 }, HttpBody { body = 1; end_of_stream = 2 }, HttpTrailers { trailers = 1 }
const HTTP_HEADERS = { headers: lenTag(1), endOfStream: 3 << 3 };
const HTTP_BODY = { body: lenTag(1), endOfStream: 2 << 3 };
const HTTP_TRAILERS = { trailers: lenTag(1) };
const HEADER_MAP = { headers: lenTag(1) };
const HEADER_VALUE = { key: lenTag(1), value: lenTag(2), rawValue: lenTag(3) };
// Metadata { map<string, Struct> filter_metadata = 1 }, Struct { map<string, Value> fields = 1 }, Value { string_value = 3 }
const METADATA = { filterMetadata: lenTag(1) };
const STRUCT_FIELDS = lenTag(1);
const MAP_ENTRY = { key: lenTag(1), value: lenTag(2) };
const STRING_VALUE = lenTag(3);

export function decodeProcessingRequest(bytes: Uint8Array): ProcessingRequestView {
  const reader = new ProtoReader(bytes);
  const view: ProcessingRequestView = { headers: [], endOfStream: false, metadata: new Map(), attributes: new Map(), observabilityMode: false };
  const end = reader.length;
  // Where the metadata was: read once the part is known (it may come first on the wire).
  let metadataAt: number[] | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    const part = PART_BY_TAG.get(tag);
    if (part) {
      // A oneof: the last case on the wire wins, as in any protobuf decoder.
      view.part = part;
      view.headers = [];
      view.endOfStream = false;
      delete view.body;
      readPart(reader, reader.delimited(end), part, view);
    } else if (tag === REQUEST.metadataContext) {
      const fieldEnd = reader.delimited(end);
      (metadataAt ??= []).push(reader.pos, fieldEnd);
      reader.pos = fieldEnd;
    } else if (tag === REQUEST.attributes) readNamespace(reader, reader.delimited(end), view.attributes);
    else if (tag === REQUEST.observabilityMode) view.observabilityMode = reader.uint32(end) !== 0;
    else reader.skip(tag, end);
  }
  if (metadataAt && !view.part?.endsWith('_body')) {
    for (let i = 0; i < metadataAt.length; i += 2) {
      reader.pos = metadataAt[i]!;
      readMetadata(reader, metadataAt[i + 1]!, view.metadata);
    }
  }
  return view;
}

function readPart(reader: ProtoReader, end: number, part: ProcessingPart, view: ProcessingRequestView): void {
  const headersTag = part.endsWith('_trailers') ? HTTP_TRAILERS.trailers : part.endsWith('_headers') ? HTTP_HEADERS.headers : undefined;
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (headersTag !== undefined && tag === headersTag) readHeaderMap(reader, reader.delimited(end), view.headers);
    else if (part.endsWith('_headers') && tag === HTTP_HEADERS.endOfStream) view.endOfStream = reader.uint32(end) !== 0;
    else if (part.endsWith('_body') && tag === HTTP_BODY.body) view.body = reader.bytes(end);
    else if (part.endsWith('_body') && tag === HTTP_BODY.endOfStream) view.endOfStream = reader.uint32(end) !== 0;
    else reader.skip(tag, end);
  }
}

function readHeaderMap(reader: ProtoReader, end: number, into: HeaderEntry[]): void {
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === HEADER_MAP.headers) into.push(readHeaderValue(reader, reader.delimited(end)));
    else reader.skip(tag, end);
  }
}

function readHeaderValue(reader: ProtoReader, end: number): HeaderEntry {
  const header: HeaderEntry = { key: '', value: '' };
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === HEADER_VALUE.key) header.key = reader.string(end);
    else if (tag === HEADER_VALUE.value) header.value = reader.string(end);
    else if (tag === HEADER_VALUE.rawValue) header.rawValue = reader.bytes(end);
    else reader.skip(tag, end);
  }
  return header;
}

function readMetadata(reader: ProtoReader, end: number, into: Map<string, Map<string, string>>): void {
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === METADATA.filterMetadata) readNamespace(reader, reader.delimited(end), into);
    else reader.skip(tag, end);
  }
}

/** One filter_metadata (or attributes) entry: a namespace and its Struct. */
function readNamespace(reader: ProtoReader, end: number, into: Map<string, Map<string, string>>): void {
  let name = '';
  const fields = new Map<string, string>();
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === MAP_ENTRY.key) name = reader.string(end);
    else if (tag === MAP_ENTRY.value) readStruct(reader, reader.delimited(end), fields);
    else reader.skip(tag, end);
  }
  into.set(name, fields);
}

function readStruct(reader: ProtoReader, end: number, into: Map<string, string>): void {
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === STRUCT_FIELDS) readField(reader, reader.delimited(end), into);
    else reader.skip(tag, end);
  }
}

/** A Struct field; only string values are kept (keybroker writes no others). */
function readField(reader: ProtoReader, end: number, into: Map<string, string>): void {
  let key = '';
  let value: string | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === MAP_ENTRY.key) key = reader.string(end);
    else if (tag === MAP_ENTRY.value) value = readStringValue(reader, reader.delimited(end));
    else reader.skip(tag, end);
  }
  if (value === undefined) into.delete(key);
  else into.set(key, value);
}

function readStringValue(reader: ProtoReader, end: number): string | undefined {
  let value: string | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === STRING_VALUE) value = reader.string(end);
    else {
      reader.skip(tag, end);
      value = undefined;
    }
  }
  return value;
}

/**
 * The answers a processor sends when Envoy waits for one (a filter not in observability
 * mode): "continue unchanged" for each part — an empty HeadersResponse, BodyResponse or
 * TrailersResponse in the ProcessingResponse field of the same number (1–6). keybroker
 * never changes the agent's request or response.
 */
const CONTINUE = new Map<ProcessingPart, Buffer>(
  (['request_headers', 'response_headers', 'request_body', 'response_body', 'request_trailers', 'response_trailers'] as const).map((part, i) => [part, Buffer.from([lenTag(i + 1), 0])]),
);

export function continueResponse(part: ProcessingPart): Buffer {
  return CONTINUE.get(part) as Buffer;
}

const clientSideOnly = () => {
  throw new Error('this definition serves Process; a client uses the proto-loader definition');
};

/** The ExternalProcessor service for grpc-js's Server: decodes requests, sends pre-encoded answers. */
export function externalProcessorServerDefinition(): ServiceDefinition {
  return {
    Process: {
      path: PROCESS_PATH,
      requestStream: true,
      responseStream: true,
      requestDeserialize: (bytes: Buffer): ProcessingRequestView | UndecodableRequest => {
        try {
          return decodeProcessingRequest(bytes);
        } catch (error) {
          return { failed: (error as Error).message };
        }
      },
      responseSerialize: (encoded: Buffer) => encoded,
      requestSerialize: clientSideOnly,
      responseDeserialize: clientSideOnly,
      originalName: 'process',
    },
  };
}
