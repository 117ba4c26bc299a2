/**
 * The Process method's wire codec against protobufjs on Envoy's own protos (through
 * proto-loader, as Envoy's messages would be encoded): what keybroker decodes is what was
 * encoded, its "continue" answers are what a generic decoder reads, and broken bytes are
 * refused without an exception.
 */
import { expect } from 'chai';
import { continueResponse, decodeProcessingRequest, externalProcessorServerDefinition } from '../../src/envoy/ext-proc-codec.ts';
import { forwardedDecision, toProcessingEvent } from '../../src/envoy/processing-request.ts';
import { externalProcessorClientConstructor } from '../../src/envoy/proto.ts';
import { ALLOWED, joinedResponseHeaders, metadataContext, requestHeaders, responseBody, responseHeaders } from '../helpers/ext-proc.ts';

const method = externalProcessorClientConstructor().service['Process']!;
const encode = (message: Record<string, unknown>): Buffer => method.requestSerialize(message);

describe('ProcessingRequest decoding', () => {
  it('reads the part, headers, body, end of stream, observability mode and the forwarded metadata', () => {
    const view = decodeProcessingRequest(encode({ ...requestHeaders(), attributes: { x: { fields: { y: { numberValue: 1 } } } } }));
    expect(view.part).to.equal('request_headers');
    expect(view.observabilityMode).to.equal(true);
    expect(Object.fromEntries(view.headers.map((h) => [h.key, h.rawValue?.toString()]))).to.include({ ':method': 'POST', 'x-request-id': 'decision-1' });
    expect(Object.fromEntries(view.metadata.get('envoy.filters.http.ext_authz')!)).to.deep.equal(ALLOWED);
    const event = toProcessingEvent(view);
    expect(event).to.deep.include({ kind: 'request_headers', requestId: 'decision-1', endOfStream: false, observability: true });

    const body = decodeProcessingRequest(encode(responseBody('{"usage":{}}', true)));
    expect(body.part).to.equal('response_body');
    expect(body.body?.toString()).to.equal('{"usage":{}}');
    expect(body.endOfStream).to.equal(true);

    const head = toProcessingEvent(decodeProcessingRequest(encode(responseHeaders(200, 'text/event-stream', { 'content-encoding': 'gzip' }))));
    expect(head).to.deep.include({ kind: 'response_headers', head: { status: 200, contentType: 'text/event-stream', contentEncoding: 'gzip' } });
    expect(toProcessingEvent(decodeProcessingRequest(encode({ response_trailers: { trailers: { headers: [{ key: 'grpc-status', raw_value: Buffer.from('0') }] } } })))).to.deep.equal({
      kind: 'response_trailers',
      observability: false,
    });
    expect(toProcessingEvent(decodeProcessingRequest(encode({ request_body: { body: Buffer.from('x') } })))).to.deep.equal({ kind: 'ignored', part: 'request_body', observability: false });
    expect(toProcessingEvent(decodeProcessingRequest(Buffer.alloc(0)))).to.deep.equal({ kind: 'ignored', part: 'none', observability: false });
  });

  it('reads request.id and request.time from the response attributes; skips the metadata of a body chunk', () => {
    const view = decodeProcessingRequest(encode(joinedResponseHeaders({ requestTime: '2026-11-29T04:11:13.051453+00:00' })));
    expect(Object.fromEntries(view.attributes.get('envoy.filters.http.ext_proc')!)).to.deep.equal({ 'request.id': 'decision-1', 'request.time': '2026-11-29T04:11:13.051453+00:00' });
    expect(toProcessingEvent(view)).to.deep.include({ kind: 'response_headers', requestId: 'decision-1', requestTime: Date.parse('2026-11-29T04:11:13.051453+00:00') });
    expect(toProcessingEvent(view)).to.have.nested.property('decision.decisionId', 'decision-1');
    // A time that does not parse is left out; without attributes there is no request id.
    expect(toProcessingEvent(decodeProcessingRequest(encode(joinedResponseHeaders({ requestTime: 'yesterday' }))))).to.not.have.property('requestTime');
    // Only an RFC 3339 time, as Envoy writes it: Date.parse alone reads "1" as 2001 and "foo 12" as December.
    for (const requestTime of ['1', 'foo 12', 'Nov 29', '2026', '2026-11-29', '12/31/1969 23:59:59 GMT', '275760-09-13T00:00:00Z', '2026-11-29T04:11:13'])
      expect(toProcessingEvent(decodeProcessingRequest(encode(joinedResponseHeaders({ requestTime })))), requestTime).to.not.have.property('requestTime');
    expect(toProcessingEvent(decodeProcessingRequest(encode(joinedResponseHeaders({ requestTime: '2026-11-29T04:11:13Z' }))))).to.have.property('requestTime', Date.UTC(2026, 10, 29, 4, 11, 13));
    expect(toProcessingEvent(decodeProcessingRequest(encode(responseHeaders())))).to.not.have.property('requestId');
    // Envoy repeats the metadata with every chunk: not decoded there, whichever comes first on the wire.
    const chunk = Buffer.concat([encode(metadataContext(ALLOWED)), encode(responseBody('{}', false))]);
    const body = decodeProcessingRequest(chunk);
    expect(body.part).to.equal('response_body');
    expect(body.metadata.size).to.equal(0);
    const head = decodeProcessingRequest(Buffer.concat([encode(metadataContext(ALLOWED)), encode({ response_headers: { headers: { headers: [] } } })]));
    expect(Object.fromEntries(head.metadata.get('envoy.filters.http.ext_authz')!)).to.deep.equal(ALLOWED);
  });

  it('refuses what Envoy never sends: broken protobuf, a bad :status, invalid UTF-8, too many headers', () => {
    const deserialize = externalProcessorServerDefinition()['Process']!.requestDeserialize;
    expect(deserialize(Buffer.from([0x2a, 0xff, 0x01, 0x00])))
      .to.have.property('failed')
      .that.is.a('string');
    expect(deserialize(encode(responseBody('x', true)))).to.have.property('part', 'response_body');
    const noStatus = toProcessingEvent(decodeProcessingRequest(encode({ response_headers: { headers: { headers: [{ key: ':status', raw_value: Buffer.from('abc') }] } } })));
    expect(noStatus.kind).to.equal('malformed');
    const badUtf8 = toProcessingEvent(decodeProcessingRequest(encode({ request_headers: { headers: { headers: [{ key: 'x-a', raw_value: Buffer.from([0xff, 0xfe]) }] } } })));
    expect(badUtf8).to.deep.equal({ kind: 'malformed', why: 'a header value is not valid UTF-8' });
    const many = Array.from({ length: 300 }, (_, i) => ({ key: `x-${i}`, raw_value: Buffer.from('v') }));
    expect(toProcessingEvent(decodeProcessingRequest(encode({ request_headers: { headers: { headers: many } } }))).kind).to.equal('malformed');
    const big = [{ key: 'x-big', raw_value: Buffer.alloc(70 * 1024, 0x61) }];
    expect(toProcessingEvent(decodeProcessingRequest(encode({ response_trailers: { trailers: { headers: big } } }))).kind).to.equal('malformed');
  });

  it('trusts only forwarded fields shaped as a Check writes them', () => {
    expect(forwardedDecision(undefined)).to.equal(undefined);
    expect(forwardedDecision(new Map([['decision', 'allow']]))).to.equal(undefined);
    const decided = forwardedDecision(
      new Map([
        ['decision_id', 'd-1'],
        ['decision', 'allow'],
        ['identity', 'spiffe://example.org/a'],
        ['destination', 'Not A Name'],
        ['check_span', 'not-a-traceparent'],
        ['person', 'line\nbreak'],
        ['limit_reservation', 'd-1.r'],
      ]),
    );
    expect(decided).to.deep.equal({ decisionId: 'd-1', decision: 'allow', identity: 'spiffe://example.org/a', reservationId: 'd-1.r' });
  });

  it('answers "continue" with messages a generic decoder reads as empty responses to the same part', () => {
    const decode = (b: Buffer) => method.responseDeserialize(b) as Record<string, unknown>;
    for (const part of ['request_headers', 'response_headers', 'request_body', 'response_body', 'request_trailers', 'response_trailers'] as const) {
      const decoded = decode(continueResponse(part));
      expect(decoded['response'], part).to.equal(part);
      expect(decoded[part], part).to.deep.equal({});
    }
  });
});
