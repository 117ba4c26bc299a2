/**
 * The Check method on the wire, for grpc-js's Server. The request is walked once for the
 * few fields keybroker reads, skipping the rest unread; the response arrives already
 * encoded (see response.ts). A generic decoder built the whole CheckRequest as objects,
 * which with their garbage cost more than the rest of a Check.
 *
 * Field numbers are those of envoy/service/auth/v3/{external_auth,attribute_context}.proto
 * and envoy/config/core/v3/base.proto.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { lenTag, ProtoReader, RecentStrings } from '../lib/proto-reader.ts';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** What keybroker reads of a CheckRequest; everything else is skipped on the wire. */
export interface CheckRequestView {
  principal: string;
  certificate: string;
  /** Absent when the request carries no `attributes.request.http`. */
  http?: HttpView;
  /** map<string, string> context_extensions, in wire order (a repeated key: last wins). */
  contextExtensions: Map<string, string>;
}

export interface HttpView {
  method: string;
  path: string;
  host: string;
  /** map<string, string> headers: lower-case names, repeats joined by Envoy. */
  headers: Map<string, string>;
  /** header_map, sent instead of `headers` when Envoy encodes raw header values. */
  headerMap: Array<{ key: string; value: string; rawValue?: Buffer }>;
  /**
   * The request body when the route sends it (`with_request_body`): `raw_body` with
   * `pack_as_bytes`, else `body`. Both are kept as bytes, views into the message, so a
   * Check that never reads the body pays nothing for it; `body` is a proto string that
   * Envoy fills with whatever bytes arrived, so its UTF-8 is checked where it is read.
   */
  body?: Buffer;
  rawBody?: Buffer;
}

const CHECK_REQUEST = { attributes: lenTag(1) };
const ATTRIBUTES = { source: lenTag(1), request: lenTag(4), contextExtensions: lenTag(10) };
const PEER = { principal: lenTag(4), certificate: lenTag(5) };
const REQUEST = { http: lenTag(2) };
const HTTP = { method: lenTag(2), headers: lenTag(3), path: lenTag(4), host: lenTag(5), body: lenTag(11), rawBody: lenTag(12), headerMap: lenTag(13) };
const HEADER_MAP = { headers: lenTag(1) };
const HEADER_VALUE = { key: lenTag(1), value: lenTag(2), rawValue: lenTag(3) };
const MAP_ENTRY = { key: lenTag(1), value: lenTag(2) };

export function decodeCheckRequest(bytes: Uint8Array): CheckRequestView {
  const reader = new ProtoReader(bytes);
  const view: CheckRequestView = { principal: '', certificate: '', contextExtensions: new Map() };
  const end = reader.length;
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === CHECK_REQUEST.attributes) readAttributes(reader, reader.delimited(end), view);
    else reader.skip(tag, end);
  }
  return view;
}

function readAttributes(reader: ProtoReader, end: number, view: CheckRequestView): void {
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === ATTRIBUTES.source) readSource(reader, reader.delimited(end), view);
    else if (tag === ATTRIBUTES.request) readRequest(reader, reader.delimited(end), view);
    else if (tag === ATTRIBUTES.contextExtensions) readMapEntry(reader, reader.delimited(end), view.contextExtensions);
    else reader.skip(tag, end);
  }
}

/**
 * An agent sends the same SVID (a kilobyte, URL-encoded) and principal with every request
 * until it rotates: the strings of the last few are reused rather than decoded again.
 */
const recentPeers = new RecentStrings(16);

function readSource(reader: ProtoReader, end: number, view: CheckRequestView): void {
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === PEER.principal) view.principal = reader.recentString(end, recentPeers);
    else if (tag === PEER.certificate) view.certificate = reader.recentString(end, recentPeers);
    else reader.skip(tag, end);
  }
}

function readRequest(reader: ProtoReader, end: number, view: CheckRequestView): void {
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === REQUEST.http) readHttp(reader, reader.delimited(end), (view.http ??= { method: '', path: '', host: '', headers: new Map(), headerMap: [] }));
    else reader.skip(tag, end);
  }
}

function readHttp(reader: ProtoReader, end: number, http: HttpView): void {
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === HTTP.method) http.method = reader.string(end);
    else if (tag === HTTP.path) http.path = reader.string(end);
    else if (tag === HTTP.host) http.host = reader.string(end);
    else if (tag === HTTP.headers) readMapEntry(reader, reader.delimited(end), http.headers);
    else if (tag === HTTP.headerMap) readHeaderMap(reader, reader.delimited(end), http.headerMap);
    else if (tag === HTTP.rawBody) http.rawBody = reader.bytes(end);
    else if (tag === HTTP.body) http.body = reader.bytes(end);
    else reader.skip(tag, end);
  }
}

function readMapEntry(reader: ProtoReader, end: number, into: Map<string, string>): void {
  let key = '';
  let value = '';
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === MAP_ENTRY.key) key = reader.string(end);
    else if (tag === MAP_ENTRY.value) value = reader.string(end);
    else reader.skip(tag, end);
  }
  into.set(key, value);
}

function readHeaderMap(reader: ProtoReader, end: number, into: HttpView['headerMap']): void {
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === HEADER_MAP.headers) into.push(readHeaderValue(reader, reader.delimited(end)));
    else reader.skip(tag, end);
  }
}

function readHeaderValue(reader: ProtoReader, end: number): HttpView['headerMap'][number] {
  const header: HttpView['headerMap'][number] = { key: '', value: '' };
  while (reader.pos < end) {
    const tag = reader.uint32(end);
    if (tag === HEADER_VALUE.key) header.key = reader.string(end);
    else if (tag === HEADER_VALUE.value) header.value = reader.string(end);
    else if (tag === HEADER_VALUE.rawValue) header.rawValue = reader.bytes(end);
    else reader.skip(tag, end);
  }
  return header;
}

const clientSideOnly = () => {
  throw new Error('this definition serves Check; a client uses the proto-loader definition');
};

/**
 * The Authorization service for grpc-js's Server: decodes requests, sends pre-encoded
 * answers. A request that does not decode is answered by grpc-js with INTERNAL (which
 * Envoy turns into a denial); `undecodable` hears of it first.
 */
export function authorizationServerDefinition(undecodable: (error: unknown) => void = () => {}): ServiceDefinition {
  return {
    Check: {
      path: CHECK_PATH,
      requestStream: false,
      responseStream: false,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decodeCheckRequest(bytes);
        } catch (error) {
          undecodable(error);
          throw error;
        }
      },
      responseSerialize: (encoded: Buffer) => encoded,
      requestSerialize: clientSideOnly,
      responseDeserialize: clientSideOnly,
      originalName: 'check',
    },
  };
}
