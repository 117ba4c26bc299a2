import { expect } from 'chai';
import { parseListen } from '../../src/server/listen.ts';

const tls = { cert: 'c', key: 'k', clientCa: 'ca', allowedCallers: ['spiffe://td/envoy'] };

describe('where keybroker may listen (invariant 2)', () => {
  it('allows Unix sockets and loopback', () => {
    expect(parseListen('unix:///run/kb.sock')).to.deep.equal({ kind: 'unix', path: '/run/kb.sock' });
    for (const address of ['127.0.0.1:9191', 'localhost:9191', '[::1]:9191', '127.8.9.10:1']) {
      expect(parseListen(address)).to.include({ kind: 'tcp', loopback: true });
    }
  });
  it('refuses a routable address without mTLS', () => {
    for (const address of ['0.0.0.0:9191', '10.0.0.5:9191', '[::]:9191', 'keybroker.internal:9191']) {
      expect(() => parseListen(address)).to.throw(/without mTLS/);
    }
  });
  it('allows a routable address with mTLS', () => {
    expect(parseListen({ address: '0.0.0.0:9191', tls })).to.include({ kind: 'tcp', loopback: false });
  });
  it('rejects nonsense', () => {
    expect(() => parseListen('9191')).to.throw(/neither/);
    expect(() => parseListen('unix:relative.sock')).to.throw(/absolute/);
    expect(() => parseListen('127.0.0.1:99999')).to.throw(/out of range/);
  });
});
