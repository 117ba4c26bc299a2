import { expect } from 'chai';
import { parseSpiffeId } from '../../src/identity/spiffe-id.ts';

describe('parseSpiffeId (SPIFFE ID spec)', () => {
  it('parses trust domain and path', () => {
    expect(parseSpiffeId('spiffe://example.org/ns/research/sa/agent')).to.deep.equal({
      id: 'spiffe://example.org/ns/research/sa/agent',
      trustDomain: 'example.org',
      path: '/ns/research/sa/agent',
    });
    expect(parseSpiffeId('spiffe://example.org').path).to.equal('');
    expect(parseSpiffeId('spiffe://a-b_c.d/A.b-C_9').trustDomain).to.equal('a-b_c.d');
  });

  const invalid: Array<[string, RegExp]> = [
    ['', /empty/],
    ['http://example.org/a', /must start with "spiffe:\/\/"/],
    ['SPIFFE://example.org/a', /must start with/],
    ['spiffe:///a', /no trust domain/],
    ['spiffe://Example.org/a', /lowercase/],
    ['spiffe://exa mple.org/a', /lowercase/],
    ['spiffe://example.org:8080/a', /lowercase/],
    ['spiffe://user@example.org/a', /lowercase/],
    ['spiffe://example.org/', /must not end/],
    ['spiffe://example.org/a/', /empty segment or a trailing/],
    ['spiffe://example.org//a', /empty segment/],
    ['spiffe://example.org/a/./b', /"\." or "\.\."/],
    ['spiffe://example.org/a/..', /"\." or "\.\."/],
    ['spiffe://example.org/a%2Fb', /segments may contain only/],
    ['spiffe://example.org/a?x=1', /segments may contain only/],
    ['spiffe://example.org/a#f', /segments may contain only/],
    ['spiffe://example.org/ü', /segments may contain only/],
    [`spiffe://${'a'.repeat(256)}/x`, /longer than 255 bytes/],
    [`spiffe://example.org/${'a'.repeat(2048)}`, /longer than 2048 bytes/],
  ];
  for (const [input, message] of invalid) {
    it(`rejects ${JSON.stringify(input.length > 60 ? `${input.slice(0, 40)}…` : input)}`, () => {
      expect(() => parseSpiffeId(input)).to.throw(message);
    });
  }

  it('accepts a trust domain of exactly 255 bytes', () => {
    expect(parseSpiffeId(`spiffe://${'a'.repeat(255)}/x`).trustDomain).to.have.length(255);
  });
});
