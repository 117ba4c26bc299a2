/**
 * CheckRequest → RequestFacts at the boundary: the header map Envoy sends is used as it
 * is only when copying it could change nothing, and the strings kept from one request to
 * the next (the peer's certificate and principal) are matched on every byte.
 */
import { expect } from 'chai';
import { decodeCheckRequest, type CheckRequestView } from '../../src/envoy/codec.ts';
import { LIMITS, parseCheckRequest } from '../../src/envoy/request.ts';
import { authorizationService } from '../../src/envoy/proto.ts';
import { RecentStrings } from '../../src/lib/proto-reader.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';

const encode = (message: unknown): Buffer => authorizationService()['Check']!.requestSerialize(message);

function view(headers: Array<[string, string]>, source: { principal?: string; certificate?: string } = {}): CheckRequestView {
  return {
    principal: source.principal ?? '',
    certificate: source.certificate ?? '',
    http: { method: 'POST', path: '/v1/chat/completions', host: 'gateway.local', headers: new Map(headers), headerMap: [] },
    contextExtensions: new Map([['destination', 'openai']]),
  };
}

describe('RequestFacts from a CheckRequest', () => {
  it("uses Envoy's header map as it is when every name is lower-case ASCII", () => {
    const request = view([
      ['content-type', 'application/json'],
      ['x-request-id', 'req-1'],
    ]);
    const facts = parseCheckRequest(request);
    expect(facts.headers).to.equal(request.http!.headers);
    expect(facts.malformed).to.equal(undefined);
    expect(facts.decisionId).to.equal('req-1');
  });

  it('lower-cases and joins names that differ only in case, as before', () => {
    const facts = parseCheckRequest(
      view([
        ['X-Team', 'a'],
        ['x-team', 'b'],
        ['Ünïcode', 'c'],
      ]),
    );
    expect([...facts.headers]).to.deep.equal([
      ['x-team', 'a,b'],
      ['ünïcode', 'c'],
    ]);
  });

  it('flags a header value that is not UTF-8, on either path', () => {
    expect(parseCheckRequest(view([['x-a', 'bad \uFFFD']])).malformed).to.equal('a request header is not valid UTF-8');
    expect(parseCheckRequest(view([['X-A', 'bad \uFFFD']])).malformed).to.equal('a request header is not valid UTF-8');
  });

  it('refuses headers beyond the bounds rather than passing the map on', () => {
    const many = Array.from({ length: LIMITS.headerCount + 1 }, (_, i): [string, string] => [`x-h${i}`, 'v']);
    const facts = parseCheckRequest(view(many));
    expect(facts.malformed).to.equal('the request headers exceed the size keybroker accepts');
    expect(facts.headers.size).to.equal(LIMITS.headerCount);
    const big = parseCheckRequest(view([['x-big', 'v'.repeat(LIMITS.headerBytes)]]));
    expect(big.malformed).to.equal('the request headers exceed the size keybroker accepts');
    expect(big.headers.size).to.equal(0);
  });

  it('decodes the certificate the same way when it comes again, and still refuses a bad one', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB+/=\n-----END CERTIFICATE-----\n';
    const first = parseCheckRequest(view([], { certificate: encodeURIComponent(pem) }));
    const again = parseCheckRequest(view([], { certificate: encodeURIComponent(pem) }));
    expect(first.sourceCertificate).to.equal(pem);
    expect(again.sourceCertificate).to.equal(pem);
    expect(parseCheckRequest(view([], { certificate: '%E0%A4%A' })).malformed).to.equal('the peer certificate is not URL-encoded PEM');
  });

  it('reads the same principal and certificate from the wire again as the same strings, and a different one as itself', () => {
    const bytes = (principal: string, certificate: string) =>
      encode(envoyCheckRequest({ principal, certificate: encodeURIComponent(`-----BEGIN CERTIFICATE-----\n${certificate}\n-----END CERTIFICATE-----\n`) }));
    const a = decodeCheckRequest(bytes('spiffe://example.org/agent-a', 'AAAA'));
    const a2 = decodeCheckRequest(bytes('spiffe://example.org/agent-a', 'AAAA'));
    const b = decodeCheckRequest(bytes('spiffe://example.org/agent-b', 'AAAB'));
    expect(a2.principal).to.equal('spiffe://example.org/agent-a');
    expect(a2.certificate).to.equal(a.certificate);
    expect(b.principal).to.equal('spiffe://example.org/agent-b');
    expect(b.certificate).to.include('AAAB');
  });
});

describe('RecentStrings', () => {
  it('gives back the text kept for the same bytes, matched on every byte, and keeps a copy of them', () => {
    const recent = new RecentStrings(2);
    const message = Buffer.from('xxhelloyy');
    expect(recent.find(message, 2, 7)).to.equal(undefined);
    recent.add(message.subarray(2, 7), 'hello');
    expect(recent.find(Buffer.from('hello'), 0, 5)).to.equal('hello');
    expect(recent.find(Buffer.from('hellp'), 0, 5)).to.equal(undefined);
    expect(recent.find(Buffer.from('hell'), 0, 4)).to.equal(undefined);
    // The message's buffer may be reused for another message: what was kept is unchanged.
    message.write('HELLO', 2);
    expect(recent.find(Buffer.from('hello'), 0, 5)).to.equal('hello');
    expect(recent.find(message, 2, 7)).to.equal(undefined);
  });

  it('holds at most its capacity, replacing the oldest first', () => {
    const recent = new RecentStrings(2);
    for (const text of ['one', 'two', 'six']) recent.add(Buffer.from(text), text);
    expect(recent.find(Buffer.from('one'), 0, 3)).to.equal(undefined);
    expect(recent.find(Buffer.from('two'), 0, 3)).to.equal('two');
    expect(recent.find(Buffer.from('six'), 0, 3)).to.equal('six');
  });
});
