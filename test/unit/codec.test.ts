/**
 * The Check method's wire codec against protobufjs on Envoy's own protos (through
 * proto-loader, as a client would): what keybroker decodes is what was encoded, what it
 * encodes is what a generic decoder reads, and broken bytes are refused cleanly.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { decodeCheckRequest } from '../../src/envoy/codec.ts';
import { toCheckResponse, type CheckResponseMessage, type DynamicMetadata } from '../../src/envoy/response.ts';
import { authorizationService } from '../../src/envoy/proto.ts';
import { ProtoDecodeError } from '../../src/lib/proto-reader.ts';
import { ProtoWriter } from '../../src/lib/proto-writer.ts';
import { Secret } from '../../src/credentials/secret.ts';
import { injectionFor, type InjectSpec } from '../../src/credentials/templates.ts';
import { injectedFor } from '../../src/credentials/injected.ts';
import { parseKeyRef } from '../../src/credentials/key-ref.ts';
import { Denial, REASONS } from '../../src/lib/denial.ts';
import type { DecisionRecord, Destination } from '../../src/model/check.ts';
import { envoyCheckRequest, type CheckRequestMessage } from '../helpers/envoy-request.ts';
import { CANARY_FIELD_SECRET, CANARY_KEY, CANARY_SID } from '../helpers/canary.ts';

const method = authorizationService()['Check']!;
const encode = (message: CheckRequestMessage | Record<string, unknown>): Buffer => method.requestSerialize(message);
const decodeResponse = (bytes: Buffer) => method.responseDeserialize(bytes) as CheckResponseMessage;

describe('CheckRequest decoding', () => {
  it('reads the fields keybroker uses and skips every other field', () => {
    const request = envoyCheckRequest({ principal: 'spiffe://example.org/agent', certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' });
    const bytes = encode({
      attributes: {
        ...request.attributes,
        // Fields keybroker never reads, of every wire type, at every level.
        destination: { address: { socket_address: { address: '10.0.0.1', port_value: 443 } }, principal: 'spiffe://example.org/gateway' },
        request: { time: { seconds: '1700000000', nanos: 5 }, http: { ...request.attributes!.request!.http, id: '42', scheme: 'https', size: '-1', protocol: 'HTTP/2', query: 'a=1', fragment: 'f' } },
        metadata_context: { filter_metadata: { a: { fields: { b: { numberValue: 1.5 } } } } },
        tls_session: { sni: 'gateway.local' },
      },
    });
    const view = decodeCheckRequest(bytes);
    expect(view.principal).to.equal('spiffe://example.org/agent');
    expect(decodeURIComponent(view.certificate)).to.include('BEGIN CERTIFICATE');
    expect(view.http).to.include({ method: 'POST', path: '/openai/v1/chat/completions', host: 'gateway.local' });
    expect(Object.fromEntries(view.http!.headers)).to.deep.equal(request.attributes!.request!.http!.headers);
    expect(Object.fromEntries(view.contextExtensions)).to.deep.equal({ destination: 'openai' });
  });

  it('reads header_map with raw values', () => {
    const view = decodeCheckRequest(
      encode({
        attributes: {
          request: {
            http: {
              method: 'GET',
              header_map: {
                headers: [
                  { key: 'x-a', raw_value: Buffer.from('é') },
                  { key: 'x-b', value: 'v' },
                ],
              },
            },
          },
        },
      }),
    );
    expect(view.http!.headerMap.map((h) => [h.key, h.value, h.rawValue?.toString('utf8')])).to.deep.equal([
      ['x-a', '', 'é'],
      ['x-b', 'v', undefined],
    ]);
  });

  it('reads raw_body and body as bytes, views into the message', () => {
    const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'héllo 🔑' }] });
    const raw = decodeCheckRequest(encode({ attributes: { request: { http: { method: 'POST', raw_body: Buffer.from(chat) } } } }));
    expect(raw.http!.rawBody!.toString('utf8')).to.equal(chat);
    expect(raw.http!.body).to.equal(undefined);
    const text = decodeCheckRequest(encode({ attributes: { request: { http: { method: 'POST', body: chat } } } }));
    expect(text.http!.body!.toString('utf8')).to.equal(chat);
    expect(text.http!.rawBody).to.equal(undefined);
    // Bytes that are not UTF-8 arrive as they are (no U+FFFD here): the inspect phase refuses them.
    const binary = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    expect([...decodeCheckRequest(encode({ attributes: { request: { http: { raw_body: binary } } } })).http!.rawBody!]).to.deep.equal([...binary]);
  });

  it('leaves http absent when the request has none', () => {
    const view = decodeCheckRequest(encode({ attributes: { source: { principal: 'spiffe://example.org/a' } } }));
    expect(view.http).to.equal(undefined);
    expect(view.principal).to.equal('spiffe://example.org/a');
  });

  it('agrees with protobufjs on random requests, multi-byte text included', () => {
    const text = () => randomBytes(1 + (randomBytes(1)[0]! % 40)).toString('base64') + ['', 'é', '日本', '🔑'][randomBytes(1)[0]! % 4];
    for (let i = 0; i < 200; i++) {
      const headers = Object.fromEntries(Array.from({ length: randomBytes(1)[0]! % 12 }, () => [text().toLowerCase(), text()]));
      const rawBody = randomBytes(randomBytes(1)[0]! % 3 === 0 ? 0 : randomBytes(2).readUInt16LE() % 4096);
      const body = randomBytes(1)[0]! % 2 === 0 ? '' : text().repeat(1 + (randomBytes(1)[0]! % 50));
      const message = {
        attributes: { source: { principal: text() }, request: { http: { method: text(), path: text(), host: text(), headers, body, raw_body: rawBody } }, context_extensions: { destination: text() } },
      };
      const view = decodeCheckRequest(encode(message));
      const http = message.attributes.request.http;
      // proto3 leaves empty fields off the wire.
      expect(view.http!.rawBody ?? Buffer.alloc(0)).to.deep.equal(rawBody);
      expect((view.http!.body ?? Buffer.alloc(0)).toString('utf8')).to.equal(body);
      expect(view.principal).to.equal(message.attributes.source.principal);
      expect([view.http!.method, view.http!.path, view.http!.host]).to.deep.equal([http.method, http.path, http.host]);
      expect(Object.fromEntries(view.http!.headers)).to.deep.equal(headers);
      expect(view.contextExtensions.get('destination')).to.equal(message.attributes.context_extensions.destination);
    }
  });

  it('marks invalid UTF-8 with U+FFFD for the parser to refuse', () => {
    const bytes = encode({ attributes: { source: { principal: 'spiffe://example.org/x' } } });
    const at = bytes.indexOf('x', bytes.length - 1);
    bytes[at] = 0xff;
    expect(decodeCheckRequest(bytes).principal).to.equal('spiffe://example.org/\uFFFD');
  });

  it('refuses every truncation of a real request with a ProtoDecodeError, never anything else', () => {
    const bytes = encode(envoyCheckRequest({ headers: { authorization: 'Bearer abc' }, body: { model: 'gpt-4o-mini', stream: true } }));
    let refused = 0;
    for (let length = 0; length < bytes.length; length++) {
      try {
        decodeCheckRequest(bytes.subarray(0, length));
      } catch (error) {
        expect(error).to.be.instanceOf(ProtoDecodeError);
        refused++;
      }
    }
    // A cut that falls between two top-level fields is a valid, shorter message; the
    // request has one top-level field, so only the empty prefix decodes.
    expect(refused).to.equal(bytes.length - 1);
  });

  it('refuses a length that overruns its enclosing message, a bad wire type, and an endless varint', () => {
    // attributes (field 1, 3 bytes) holding source (field 1) that claims 9 bytes.
    expect(() => decodeCheckRequest(Buffer.from([0x0a, 0x03, 0x0a, 0x09, 0x00]))).to.throw(ProtoDecodeError, /overruns/);
    expect(() => decodeCheckRequest(Buffer.from([0x0b]))).to.throw(ProtoDecodeError, /wire type 3/);
    expect(() => decodeCheckRequest(Buffer.from([0x08, ...Array(11).fill(0xff)]))).to.throw(ProtoDecodeError);
    expect(() => decodeCheckRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).to.throw(ProtoDecodeError);
  });

  it('merges a repeated attributes message as protobuf does', () => {
    const first = encode({ attributes: { source: { principal: 'spiffe://example.org/a' } } });
    const second = encode({ attributes: { context_extensions: { destination: 'openai' } } });
    const view = decodeCheckRequest(Buffer.concat([first, second]));
    expect(view.principal).to.equal('spiffe://example.org/a');
    expect(view.contextExtensions.get('destination')).to.equal('openai');
  });
});

describe('CheckResponse encoding', () => {
  const destination: Destination = {
    name: 'openai',
    upstream: 'api.openai.com',
    authorities: ['gateway.local'],
    routePrefix: '/openai',
    injection: injectionFor('openai'),
    keyRef: 'openai/prod',
    key: parseKeyRef('openai/prod'),
    classification: 'internal',
    stripHeaders: ['x-api-key', 'api-key'],
    denialShape: 'openai',
  };
  const allow = (secret: Secret, on: Destination = destination, fields: Partial<DecisionRecord> = {}, metadata: DynamicMetadata = 'full') =>
    decodeResponse(toCheckResponse({ allow: true, record: record(fields), secret, injected: injectedFor(on.injection, secret), destination: on }, metadata));
  const record = (fields: Partial<DecisionRecord>): DecisionRecord => ({
    decisionId: 'd-1',
    decision: 'allow',
    reason: 'allowed',
    status: 200,
    method: 'POST',
    authority: 'gateway.local',
    path: '/v1/chat/completions',
    durationMs: 0.1,
    ...fields,
  });

  it('encodes an allowed answer a generic decoder reads back whole', () => {
    const secret = new Secret('file', 'openai/prod', CANARY_KEY);
    const allowed = record({ identity: 'spiffe://example.org/agent', destination: 'openai', rule: 'règle-é', keyId: secret.id, policyVersion: 'v1' });
    const response = allow(secret, destination, allowed);
    expect(response.status).to.deep.equal({ code: 0 });
    expect(response.denied_response).to.equal(undefined);
    expect(response.ok_response!.headers).to.deep.equal([{ header: { key: 'authorization', value: `Bearer ${CANARY_KEY}` }, append: { value: false } }]);
    expect(response.ok_response!.headers_to_remove).to.deep.equal(['x-api-key', 'api-key']);
    const metadata = Object.fromEntries(Object.entries(response.dynamic_metadata.fields).map(([k, v]) => [k, v.stringValue]));
    expect(metadata).to.deep.equal({
      decision_id: 'd-1',
      decision: 'allow',
      reason: 'allowed',
      identity: 'spiffe://example.org/agent',
      destination: 'openai',
      rule: 'règle-é',
      key_id: secret.id,
      policy_version: 'v1',
    });
    // The default: what the shipped access log and usage metering read, and no more.
    const essential = allow(secret, destination, allowed, 'essential').dynamic_metadata.fields;
    expect(Object.keys(essential).sort()).to.deep.equal(['decision', 'decision_id', 'destination', 'identity', 'key_id', 'reason']);
    // The person and the check span only when the decision has them.
    const traced = allow(secret, destination, { ...allowed, person: 'alice', checkSpan: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, 'essential').dynamic_metadata.fields;
    expect(traced['person']?.stringValue).to.equal('alice');
    expect(traced['check_span']?.stringValue).to.equal('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });

  it("writes each decision's own metadata while reusing encoded values, past the bound on how many are kept", () => {
    const secret = new Secret('file', 'openai/prod', CANARY_KEY);
    // More identities than the encoder keeps (1,024 per field), then the first ones again.
    const identities = Array.from({ length: 1100 }, (_, i) => `spiffe://example.org/agent-${i}-é`);
    for (const identity of [...identities, ...identities.slice(0, 50)]) {
      const fields = allow(secret, destination, record({ decisionId: `d-${identity}`, identity, person: identity.slice(-7), keyId: secret.id }), 'essential').dynamic_metadata.fields;
      expect(fields['identity']?.stringValue).to.equal(identity);
      expect(fields['person']?.stringValue).to.equal(identity.slice(-7));
      expect(fields['decision_id']?.stringValue).to.equal(`d-${identity}`);
      expect(fields['key_id']?.stringValue).to.equal(secret.id);
    }
    // A denial after allows: its own decision and reason, not an allowed one's.
    const denied = decodeResponse(toCheckResponse({ allow: false, record: record({ decision: 'deny', reason: 'identity_missing', status: 401 }), denial: new Denial('identity_missing') }));
    expect(denied.dynamic_metadata.fields['decision']?.stringValue).to.equal('deny');
    expect(denied.dynamic_metadata.fields['reason']?.stringValue).to.equal('identity_missing');
  });

  it('writes the rotated key, not a cached one, once the key changes', () => {
    const before = new Secret('file', 'openai/prod', 'sk-before');
    const after = new Secret('file', 'openai/prod', 'sk-after');
    const injectedValue = (secret: Secret) => allow(secret).ok_response!.headers[0]!.header.value;
    expect(injectedValue(before)).to.equal('Bearer sk-before');
    expect(injectedValue(after)).to.equal('Bearer sk-after');
    expect(injectedValue(before)).to.equal('Bearer sk-before');
  });

  it('encodes every injection shape a generic decoder reads back: headers set, removed, query parameters set', () => {
    const fields = new Secret(
      'file',
      'twilio/prod',
      new Map([
        ['sid', CANARY_SID],
        ['secret', CANARY_FIELD_SECRET],
      ]),
    );
    const single = new Secret('file', 'maps/prod', 'k+y/=&?#');
    const on = (inject: InjectSpec, stripHeaders = ['x-api-key']): Destination => ({ ...destination, injection: injectionFor(inject), stripHeaders });
    const set = (response: CheckResponseMessage) => (response.ok_response!.headers ?? []).map((h) => [h.header.key, h.header.value, h.append.value]);
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

    expect(set(allow(fields, on({ basic: { username: '${key.sid}', password: '${key.secret}' } })))).to.deep.equal([['authorization', basic(CANARY_SID, CANARY_FIELD_SECRET), false]]);
    expect(set(allow(fields.select('sid'), on({ basic: { username: '${key}', password: '' } })))).to.deep.equal([['authorization', basic(CANARY_SID, ''), false]]);
    expect(set(allow(fields, on({ headers: { 'x-account': '${key.sid}', 'x-secret': 'S ${key.secret}', 'x-version': '2024-06' } })))).to.deep.equal([
      ['x-account', CANARY_SID, false],
      ['x-secret', `S ${CANARY_FIELD_SECRET}`, false],
      ['x-version', '2024-06', false],
    ]);
    expect(set(allow(single, on({ header: 'x-token', prefix: 'Token ', suffix: ';v=1' })))).to.deep.equal([['x-token', 'Token k+y/=&?#;v=1', false]]);
    for (const [name, header, value] of [
      ['anthropic', 'x-api-key', 'k+y/=&?#'],
      ['azure-openai', 'api-key', 'k+y/=&?#'],
      ['google', 'x-goog-api-key', 'k+y/=&?#'],
      ['bearer', 'authorization', 'Bearer k+y/=&?#'],
    ] as const) {
      expect(set(allow(single, on(name))), name).to.deep.equal([[header, value, false]]);
    }

    // A query parameter is set (Envoy overwrites the agent's copy); Envoy takes only values that need no encoding.
    const query = allow(new Secret('file', 'maps/prod', 'AIza_k.y-z*'), on({ query: 'key' }, ['authorization', 'x-api-key']));
    expect(query.ok_response!.headers ?? []).to.deep.equal([]);
    expect(query.ok_response!.query_parameters_to_set).to.deep.equal([{ key: 'key', value: 'AIza_k.y-z*' }]);
    expect(query.ok_response!.query_parameters_to_remove ?? []).to.deep.equal([]);
    expect(() => allow(single, on({ query: 'key' }))).to.throw(/Envoy does not accept unencoded in the query parameter "key"/);
    expect(query.ok_response!.headers_to_remove).to.deep.equal(['authorization', 'x-api-key']);
  });

  it('keeps one encoded head per (destination, key version), built once', () => {
    const secret = new Secret('file', 'openai/prod', CANARY_KEY);
    const injected = injectedFor(destination.injection, secret);
    expect(injectedFor(destination.injection, secret)).to.equal(injected);
    const bytes = (i = injected, d = destination) => toCheckResponse({ allow: true, record: record({}), secret, injected: i, destination: d });
    expect(bytes().equals(bytes())).to.equal(true);
    const other = { ...destination, stripHeaders: ['api-key'] };
    expect(decodeResponse(bytes(injected, other)).ok_response!.headers_to_remove).to.deep.equal(['api-key']);
  });

  it('encodes denials with the gRPC code Envoy maps, the HTTP status and a JSON body', () => {
    for (const [reason, grpc, http] of [
      ['identity_missing', 16, 401],
      ['no_matching_grant', 7, 403],
      ['request_malformed', 7, 400],
    ] as const) {
      const denial = new Denial(reason);
      const response = decodeResponse(toCheckResponse({ allow: false, record: record({ decision: 'deny', reason, status: denial.status }), denial }));
      expect(response.status.code).to.equal(grpc);
      expect(response.ok_response).to.equal(undefined);
      expect(response.denied_response!.status).to.deep.equal({ code: http });
      expect(response.denied_response!.headers).to.deep.equal([
        { header: { key: 'content-type', value: 'application/json' }, append: { value: false } },
        { header: { key: 'x-request-id', value: 'd-1' }, append: { value: false } },
      ]);
      expect(JSON.parse(response.denied_response!.body)).to.deep.equal({
        error: { 400: 'bad_request', 401: 'unauthenticated', 403: 'forbidden' }[http],
        reason,
        message: `keybroker denied this request (${reason}): ${REASONS[reason].error}`,
        decision_id: 'd-1',
      });
      expect(response.dynamic_metadata.fields['reason']!.stringValue).to.equal(reason);
    }
  });

  it("encodes denials in the shape the destination's SDK reads, with the decision id as request id", () => {
    const deny = (api: 'openai' | 'anthropic', reason: 'identity_missing' | 'no_matching_grant' | 'key_unavailable') => {
      const denial = new Denial(reason);
      return decodeResponse(toCheckResponse({ allow: false, record: record({ decision: 'deny', reason, status: denial.status }), denial, shape: api })).denied_response!;
    };
    const headersOf = (d: ReturnType<typeof deny>) => Object.fromEntries(d.headers.map((h) => [h.header.key, h.header.value]));
    for (const [reason, type] of [
      ['identity_missing', 'authentication_error'],
      ['no_matching_grant', 'permission_error'],
      ['key_unavailable', 'server_error'],
    ] as const) {
      const openai = deny('openai', reason);
      expect(JSON.parse(openai.body), reason).to.deep.equal({
        error: { message: `keybroker denied this request (${reason}): ${REASONS[reason].error}`, type, code: reason },
        decision_id: 'd-1',
      });
      expect(headersOf(openai)).to.deep.equal({ 'content-type': 'application/json', 'x-request-id': 'd-1' });
    }
    for (const [reason, type] of [
      ['identity_missing', 'authentication_error'],
      ['no_matching_grant', 'permission_error'],
      ['key_unavailable', 'api_error'],
    ] as const) {
      const anthropic = deny('anthropic', reason);
      expect(JSON.parse(anthropic.body), reason).to.deep.equal({
        type: 'error',
        error: { type, message: `keybroker denied this request (${reason}): ${REASONS[reason].error}`, details: { error_code: reason } },
        decision_id: 'd-1',
      });
      expect(headersOf(anthropic)).to.deep.equal({ 'content-type': 'application/json', 'x-request-id': 'd-1', 'request-id': 'd-1' });
    }
  });

  it('refuses to hand out a message whose measured size and writes disagree', () => {
    expect(() => new ProtoWriter(4).varintField(1, 1).finish()).to.throw(/wrote 2 of 4/);
  });
});
