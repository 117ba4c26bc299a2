/**
 * Invariant 10, over real gRPC: a Check is bounded by its gRPC deadline and by the
 * caller cancelling it. Whatever it waits on (here a Vault STAND-IN that answers only
 * after two seconds), the answer is a denial sent while the caller still listens, and
 * the audit record says so — exactly one record, never a late allow.
 */
import { expect } from 'chai';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authorizationClient, baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';
import { startFaultyVault, type FaultyVault } from '../stand-ins/vault.ts';

describe('Check deadline and cancellation', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-deadline-'));
  let vault: FaultyVault;
  let t: TestBroker;
  const records = (decisionId: string) =>
    t.logs
      .lines()
      .map((l) => l['decision'] as Record<string, unknown> | undefined)
      .filter((d) => d?.['decisionId'] === decisionId);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  before(async () => {
    vault = await startFaultyVault({ 'openai/prod': CANARY_KEY, 'anthropic/prod': CANARY_KEY }, { slowMs: 2000 });
    vault.fault = 'sealed'; // nothing cached at start
    writeFileSync(join(dir, 'token'), vault.token, { mode: 0o600 });
    const config = baseConfig();
    // keys.timeout (5 s) is longer than the Check deadlines below: the Check must not wait for it.
    config['keys'] = { store: 'vault', address: vault.address, auth: { method: 'token', tokenFile: join(dir, 'token') }, refreshInterval: '1h', maxStaleness: '1h', timeout: '5s' };
    t = await startTestBroker({ config });
    // One call first, so the client's connection set-up is not part of the budgets below.
    await t.check(envoyCheckRequest({ requestId: 'warm-up', principal: 'spiffe://example.org/ns/other/x' }));
    vault.fault = 'slow';
  });
  after(async () => {
    await t?.stop();
    await vault?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a Check that cannot finish within its deadline with a deadline_exceeded denial, in time, recorded once', async () => {
    const started = Date.now();
    const response = await t.check(envoyCheckRequest({ requestId: 'deadline-1' }), { deadlineMs: 800 });
    const tookMs = Date.now() - started;
    expect(response.ok_response).to.equal(undefined);
    expect(response.denied_response?.status.code).to.equal(504);
    expect(deniedBody(response).reason).to.equal('deadline_exceeded');
    expect(tookMs, 'answered before the caller gave up').to.be.below(800);
    // The key read completes later (2 s): it must not turn into a second record, or an allow.
    await sleep(2300);
    const [record, ...more] = records('deadline-1');
    expect(more, 'one record').to.have.length(0);
    expect(record).to.include({ decision: 'deny', reason: 'deadline_exceeded', status: 504 });
    expect(record).to.not.have.property('keyId');
    expectNoCanary(t.logs.text(), 'the log');
  });

  it('records a Check the caller cancels as a cancelled denial', async () => {
    vault.fault = 'slow';
    const client = authorizationClient(t.broker.address);
    try {
      const call = (client as unknown as Record<string, (r: unknown, m: Metadata, o: object, cb: (e: ServiceError | null) => void) => { cancel(): void }>)['Check']!(
        envoyCheckRequest({ requestId: 'cancelled-1', principal: 'spiffe://example.org/ns/writing/writer', destination: 'anthropic', path: '/anthropic/v1/messages' }),
        new Metadata(),
        { deadline: Date.now() + 5000 },
        () => undefined,
      );
      await sleep(200);
      call.cancel();
      await sleep(300);
      const [record, ...more] = records('cancelled-1');
      expect(more).to.have.length(0);
      expect(record, 'recorded when cancelled, not when the key read ends').to.include({ decision: 'deny', reason: 'cancelled' });
    } finally {
      client.close();
    }
  });

  it('still allows, within the deadline, once the key is at hand', async () => {
    vault.fault = 'ok';
    await sleep(2000); // the slow reads above finish and fill the cache
    const response = await t.check(envoyCheckRequest({ requestId: 'deadline-ok' }), { deadlineMs: 500 });
    expect(response.status.code, JSON.stringify(response.denied_response)).to.equal(0);
    expect(records('deadline-ok')[0]).to.include({ decision: 'allow' });
  });
});
