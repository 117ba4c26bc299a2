/**
 * Invariant 2: on TCP, Check is served only over mTLS, and only to allowlisted callers.
 */
import { expect } from 'chai';
import { credentials, status as GrpcStatus, type Client } from '@grpc/grpc-js';
import { callCheck, authorizationClient, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { freePort } from '../helpers/envoy.ts';

describe('Check over TCP with mTLS and a caller allowlist', () => {
  const ca = createCa('mesh.local');
  const serverCert = ca.issue('keybroker', { uris: ['spiffe://mesh.local/keybroker'], dns: ['keybroker.local'], ips: ['127.0.0.1'] });
  const envoy = ca.issue('envoy', { uris: ['spiffe://mesh.local/envoy/egress'] });
  const intruder = ca.issue('intruder', { uris: ['spiffe://mesh.local/agent/research'] });
  const otherCa = createCa('elsewhere');
  const stranger = otherCa.issue('stranger', { uris: ['spiffe://mesh.local/envoy/egress'] });
  let t: TestBroker;

  before(async () => {
    const port = await freePort();
    t = await startTestBroker({
      listen: {
        address: `127.0.0.1:${port}`,
        tls: { cert: serverCert.certFile, key: serverCert.keyFile, clientCa: ca.certFile, allowedCallers: ['spiffe://mesh.local/envoy/*'] },
      },
      clientCredentials: credentials.createSsl(Buffer.from(ca.cert), Buffer.from(envoy.key), Buffer.from(envoy.cert)),
      clientOptions: { 'grpc.ssl_target_name_override': 'keybroker.local' },
    });
  });
  after(() => t.stop());

  const clientWith = (creds: ReturnType<typeof credentials.createSsl>) => authorizationClient(t.broker.address, creds, { 'grpc.ssl_target_name_override': 'keybroker.local' });

  it('answers the allowlisted caller', async () => {
    const response = await t.check(envoyCheckRequest());
    expect(response.status.code).to.equal(0);
  });

  /** The call must fail with `code`; the client is closed either way. */
  async function expectRefused(client: Client, code: number, who: string): Promise<void> {
    try {
      const answered = await callCheck(client, envoyCheckRequest()).then(
        () => true,
        (error: { code: number }) => {
          expect(error.code, who).to.equal(code);
          return false;
        },
      );
      expect(answered, `${who} got an answer`).to.equal(false);
    } finally {
      client.close();
    }
  }

  it('refuses a caller with a valid certificate that is not on the allowlist', () =>
    expectRefused(clientWith(credentials.createSsl(Buffer.from(ca.cert), Buffer.from(intruder.key), Buffer.from(intruder.cert))), GrpcStatus.PERMISSION_DENIED, 'a non-allowlisted caller'));

  // UNAVAILABLE: the TLS handshake failed, so no call reached Check.
  it('refuses a caller without a client certificate', () => expectRefused(clientWith(credentials.createSsl(Buffer.from(ca.cert))), GrpcStatus.UNAVAILABLE, 'an unauthenticated caller'));

  it('refuses a caller whose certificate comes from another CA', () =>
    expectRefused(clientWith(credentials.createSsl(Buffer.from(ca.cert), Buffer.from(stranger.key), Buffer.from(stranger.cert))), GrpcStatus.UNAVAILABLE, 'a caller from another CA'));

  it('refuses a plaintext caller', () => expectRefused(authorizationClient(t.broker.address), GrpcStatus.UNAVAILABLE, 'a plaintext caller'));
});
