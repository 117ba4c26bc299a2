/**
 * Invariant 2: on TCP, Check is served only over mTLS, and only to allowlisted callers.
 */
import { expect } from 'chai';
import { credentials } from '@grpc/grpc-js';
import { createServer } from 'node:net';
import { callCheck, authorizationClient, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { createCa } from '../../scripts/dev-pki.ts';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

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

  const clientWith = (creds: ReturnType<typeof credentials.createSsl>) =>
    authorizationClient(t.broker.address, creds, { 'grpc.ssl_target_name_override': 'keybroker.local' });

  it('answers the allowlisted caller', async () => {
    const response = await t.check(envoyCheckRequest());
    expect(response.status.code).to.equal(0);
  });

  it('refuses a caller with a valid certificate that is not on the allowlist', async () => {
    const client = clientWith(credentials.createSsl(Buffer.from(ca.cert), Buffer.from(intruder.key), Buffer.from(intruder.cert)));
    try {
      await callCheck(client, envoyCheckRequest());
      expect.fail('a non-allowlisted caller got an answer');
    } catch (error) {
      expect((error as { code: number }).code).to.equal(7); // PERMISSION_DENIED
    } finally {
      client.close();
    }
  });

  it('refuses a caller without a client certificate', async () => {
    const client = clientWith(credentials.createSsl(Buffer.from(ca.cert)));
    try {
      await callCheck(client, envoyCheckRequest());
      expect.fail('an unauthenticated caller got an answer');
    } catch (error) {
      expect((error as { code: number }).code).to.equal(14); // UNAVAILABLE: the handshake failed
    } finally {
      client.close();
    }
  });

  it('refuses a caller whose certificate comes from another CA', async () => {
    const client = clientWith(credentials.createSsl(Buffer.from(ca.cert), Buffer.from(stranger.key), Buffer.from(stranger.cert)));
    try {
      await callCheck(client, envoyCheckRequest());
      expect.fail('a caller from another CA got an answer');
    } catch (error) {
      expect((error as { code: number }).code).to.equal(14);
    } finally {
      client.close();
    }
  });

  it('refuses a plaintext caller', async () => {
    const client = authorizationClient(t.broker.address);
    try {
      await callCheck(client, envoyCheckRequest());
      expect.fail('a plaintext caller got an answer');
    } catch (error) {
      expect((error as { code: number }).code).to.equal(14);
    } finally {
      client.close();
    }
  });
});
