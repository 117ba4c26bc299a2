import { expect } from 'chai';
import { createCa } from '../../scripts/dev-pki.ts';
import { principalFromMtls, uriSans } from '../../src/identity/x509-svid.ts';
import { Denial } from '../../src/lib/denial.ts';

describe('X.509-SVID from Envoy', () => {
  const ca = createCa('unit');
  const research = ca.issue('research', { uris: ['spiffe://example.org/agent/research'] });
  const intern = ca.issue('intern', { uris: ['spiffe://example.org/agent/intern'] });
  const twoUris = ca.issue('two', { uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] });
  const domains = new Set(['example.org']);

  it("reads each certificate's own URI SANs, the same on every call (they are cached by PEM)", () => {
    for (let i = 0; i < 3; i++) {
      expect(uriSans(research.cert)).to.deep.equal(['spiffe://example.org/agent/research']);
      expect(uriSans(intern.cert)).to.deep.equal(['spiffe://example.org/agent/intern']);
      expect(uriSans(twoUris.cert)).to.deep.equal(['spiffe://example.org/a', 'spiffe://example.org/b']);
    }
  });

  it('keeps checking the certificate against the principal on every call', () => {
    for (let i = 0; i < 2; i++) {
      expect(principalFromMtls('spiffe://example.org/agent/research', research.cert, domains).id).to.equal('spiffe://example.org/agent/research');
      expect(() => principalFromMtls('spiffe://example.org/agent/research', intern.cert, domains)).to.throw(Denial, /differs/);
      expect(() => principalFromMtls('spiffe://example.org/a', twoUris.cert, domains)).to.throw(Denial, /2 URI SANs/);
    }
  });

  it('refuses a certificate that does not parse, every time', () => {
    const broken = research.cert.replace(/[A-Za-z]{8}/, 'AAAAAAAA');
    for (let i = 0; i < 2; i++) expect(() => uriSans(broken)).to.throw(Denial, /could not be parsed/);
  });
});
