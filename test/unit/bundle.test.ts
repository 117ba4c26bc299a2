import { expect } from 'chai';
import { parseBundle } from '../../src/identity/bundle.ts';

const ec = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };

describe('parseBundle', () => {
  it('takes only jwt-svid keys from a SPIFFE bundle and reads its refresh hint', () => {
    const parsed = parseBundle(
      JSON.stringify({
        spiffe_refresh_hint: 300,
        keys: [
          { ...ec, kid: 'a', use: 'jwt-svid' },
          { ...ec, kid: 'b', use: 'x509-svid' },
        ],
      }),
      'spiffe',
    );
    expect(parsed.keys.map((k) => k.kid)).to.deep.equal(['a']);
    expect(parsed.refreshHintMs).to.equal(300_000);
  });
  it('takes signing keys from a JWKS, skipping encryption keys', () => {
    const parsed = parseBundle(
      JSON.stringify({
        keys: [
          { ...ec, kid: 'a' },
          { ...ec, kid: 'b', use: 'sig' },
          { ...ec, kid: 'c', use: 'enc' },
        ],
      }),
      'jwks',
    );
    expect(parsed.keys.map((k) => k.kid)).to.deep.equal(['a', 'b']);
  });
  it('refuses private or symmetric key material, keys without kid, and non-JSON', () => {
    expect(() => parseBundle(JSON.stringify({ keys: [{ ...ec, kid: 'a', d: 'secret' }] }), 'jwks')).to.throw(/private or symmetric/);
    expect(() => parseBundle(JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] }), 'jwks')).to.throw(/private or symmetric/);
    expect(() => parseBundle(JSON.stringify({ keys: [ec] }), 'jwks')).to.throw(/no "kid"/);
    expect(() => parseBundle('{', 'jwks')).to.throw(/not JSON/);
    expect(() => parseBundle('{"keys": 1}', 'jwks')).to.throw(/no "keys" array/);
  });
});
