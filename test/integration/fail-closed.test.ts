/**
 * Invariant 3 (fail closed) and invariant 8 (a reload never opens the gate), over real gRPC.
 */
import { expect } from 'chai';
import { Client, credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfigFile } from '../../src/config/load.ts';
import type { FileKeyStore } from '../../src/credentials/file-store.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { buildRuntime } from '../../src/pipeline/runtime.ts';
import { startServer } from '../../src/server/grpc.ts';
import { CHECK_PATH } from '../../src/envoy/codec.ts';
import type { DecisionRecord } from '../../src/model/check.ts';
import { authorizationClient, baseConfig, callCheck, startTestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { Capture } from '../helpers/capture.ts';
import { runCli } from '../helpers/process.ts';

describe('fail closed', () => {
  it('turns an exception thrown inside the pipeline into a denial, audited once', async () => {
    const t = await startTestBroker();
    const { config } = loadConfigFile(t.configFile);
    await t.stop();
    const runtime = buildRuntime(config, {
      keys: {
        kind: 'broken',
        get: () => {
          throw new TypeError('store exploded');
        },
        close: () => {},
      },
    });
    const records: DecisionRecord[] = [];
    const logs = new Capture();
    const check = createCheck({ runtime: () => runtime, audit: { record: (r) => records.push(r) }, log: pino(logs) });
    const socket = join(mkdtempSync(join(tmpdir(), 'keybroker-')), 'authz.sock');
    const server = await startServer({ kind: 'unix', path: socket }, check, pino({ level: 'silent' }));
    const client = authorizationClient(server.address);
    try {
      const response = await callCheck(client, envoyCheckRequest());
      expect(response.ok_response).to.equal(undefined);
      expect(response.denied_response?.status.code).to.equal(500);
      expect(deniedBody(response).reason).to.equal('internal_error');
      expect(records).to.have.length(1);
      expect(records[0]).to.include({ decision: 'deny', reason: 'internal_error' });
      expect(logs.text()).to.include('store exploded');
    } finally {
      client.close();
      await server.shutdown();
    }
  });

  it('answers bytes that are not a CheckRequest with a gRPC error, which Envoy turns into a denial, and keeps serving', async () => {
    const t = await startTestBroker();
    const raw = new Client(t.broker.address, credentials.createInsecure());
    const send = (bytes: Buffer) =>
      new Promise<{ error: ServiceError | null; response?: Buffer }>((resolve) =>
        raw.makeUnaryRequest(
          CHECK_PATH,
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          new Metadata(),
          { deadline: Date.now() + 5000 },
          (error, response) => resolve({ error, ...(response ? { response } : {}) }),
        ),
      );
    try {
      // attributes (field 1) claiming 9 bytes of which 1 is there; then an unknown wire type.
      for (const bytes of [Buffer.from([0x0a, 0x09, 0x00]), Buffer.from([0x0b, 0x00])]) {
        const { error, response } = await send(bytes);
        expect(response).to.equal(undefined);
        expect(error?.code).to.equal(GrpcStatus.INTERNAL);
      }
      expect(t.logs.text()).to.include('CheckRequest could not be decoded');
      expect(t.logs.text()).to.include('overruns its message');
      expect((await t.check(envoyCheckRequest())).status.code).to.equal(0);
    } finally {
      raw.close();
      await t.stop();
    }
  });
});

describe('reloads never open the gate', () => {
  it('applies a valid new policy and rejects an invalid one whole, keeping the last good', async () => {
    const t = await startTestBroker();
    try {
      const intern = { principal: 'spiffe://example.org/ns/interns/intern' };
      expect(deniedBody(await t.check(envoyCheckRequest(intern))).reason).to.equal('no_matching_grant');

      // A valid change takes effect.
      const granted = baseConfig();
      (granted['policy'] as unknown[]).push({ id: 'interns', identities: ['spiffe://example.org/ns/interns/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] });
      t.writeConfig(granted);
      expect(await t.broker.watcher.reload()).to.equal(true);
      const versionAfterGrant = t.broker.runtime().policy.version;
      expect((await t.check(envoyCheckRequest(intern))).status.code).to.equal(0);

      // An invalid file that would also revoke the quarantine deny: rejected whole.
      const broken = baseConfig();
      broken['policy'] = [{ id: 'everyone', identities: ['spiffe://example.org/*'], destinations: ['openai'], methods: ['POST'], paths: ['/*'], typo_effect: 'allow' }];
      t.writeConfig(broken);
      expect(await t.broker.watcher.reload()).to.equal(false);
      expect(t.broker.watcher.stats).to.deep.equal({ applied: 1, rejected: 1 });
      expect(t.broker.runtime().policy.version).to.equal(versionAfterGrant);
      expect(deniedBody(await t.check(envoyCheckRequest({ principal: 'spiffe://example.org/ns/research/quarantined' }))).reason).to.equal('denied_by_rule');
      expect(t.logs.text()).to.include('configuration reload rejected');
      expect(t.logs.text()).to.include('policy[0].typo_effect: unknown key');
    } finally {
      await t.stop();
    }
  });

  it('refuses a reload that validate refuses — listen on 0.0.0.0 without mTLS — with the policy change it carried', async () => {
    const t = await startTestBroker();
    try {
      const intern = { principal: 'spiffe://example.org/ns/interns/intern' };
      const opened = baseConfig();
      opened['listen'] = '0.0.0.0:9191';
      (opened['policy'] as unknown[]).push({ id: 'interns', identities: ['spiffe://example.org/ns/interns/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] });
      t.writeConfig(opened);
      const validated = runCli(['validate', '-c', t.configFile]);
      expect(validated.code, validated.stdout).to.not.equal(0);
      expect(validated.stderr).to.include('refusing to serve Check on non-loopback address "0.0.0.0:9191" without mTLS');
      expect(await t.broker.watcher.reload()).to.equal(false);
      expect(t.logs.text()).to.include('refusing to serve Check on non-loopback address \\"0.0.0.0:9191\\" without mTLS');
      expect(deniedBody(await t.check(envoyCheckRequest(intern))).reason).to.equal('no_matching_grant');
    } finally {
      await t.stop();
    }
  });

  it('refuses a reload that changes a setting read only at start, and says to restart', async () => {
    const t = await startTestBroker();
    try {
      const moved = baseConfig();
      moved['listen'] = `unix://${join(t.dir, 'elsewhere.sock')}`;
      moved['policy'] = [];
      t.writeConfig(moved);
      expect(await t.broker.watcher.reload()).to.equal(false);
      expect(t.logs.text()).to.include('listen changed: it takes effect only at start; restart keybroker to apply this file');
      expect((await t.check(envoyCheckRequest())).status.code).to.equal(0);
    } finally {
      await t.stop();
    }
  });

  it('rejects a reload whose new JWT bundle cannot be loaded', async () => {
    const t = await startTestBroker();
    try {
      const unreachable = baseConfig();
      unreachable['trust'] = { 'example.org': { bundle: { url: 'https://127.0.0.1:9/bundle' }, audiences: ['keybroker'] } };
      t.writeConfig(unreachable);
      expect(await t.broker.watcher.reload()).to.equal(false);
      expect(t.logs.text()).to.include('could not load trust domain example.org');
      expect((await t.check(envoyCheckRequest())).status.code).to.equal(0);
      expect(t.broker.runtime().config.trust['partner.example']).to.not.equal(undefined);
    } finally {
      await t.stop();
    }
  });

  it('keeps the last good keys when the key file is replaced by a broken one', async () => {
    const t = await startTestBroker();
    try {
      const { writeFileSync, chmodSync } = await import('node:fs');
      const keysFile = join(t.dir, 'keys.yaml');
      writeFileSync(keysFile, 'openai/prod: "line\\nbreak"\n');
      chmodSync(keysFile, 0o600);
      const store = t.broker.runtime().keys as FileKeyStore;
      expect(store.reload()).to.equal(false);
      expect((await t.check(envoyCheckRequest())).status.code).to.equal(0);
      chmodSync(keysFile, 0o644);
      expect(store.reload()).to.equal(false);
      expect((await t.check(envoyCheckRequest())).status.code).to.equal(0);
    } finally {
      await t.stop();
    }
  });
});
