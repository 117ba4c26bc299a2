/**
 * The Check pipeline as named phases: the order, and what a phase may do — read what
 * earlier phases learnt, wait, add to the record and to the agent's response, deny with
 * a reason code, keep state across reloads — over a real gRPC socket.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfigFile } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { Denial } from '../../src/lib/denial.ts';
import { createCheck, PHASES, stateful, type Step } from '../../src/pipeline/check.ts';
import { buildRuntime, releaseRuntime, retirePhaseStates } from '../../src/pipeline/runtime.ts';
import { startServer } from '../../src/server/grpc.ts';
import { attributesOf } from '../../src/audit/span.ts';
import type { DecisionRecord } from '../../src/model/check.ts';
import { addRecordAttribute, addResponseHeader, need, type StatefulPhase } from '../../src/model/phase.ts';
import { authorizationClient, callCheck, startTestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { CANARY_KEY } from '../helpers/canary.ts';

/** A stand-in limit phase: counts allowed Checks per identity in its own state. */
interface Counter {
  readonly budget: number;
  readonly used: Map<string, number>;
  closed: boolean;
}
const countingLimit: StatefulPhase<Counter> = {
  name: 'limit',
  prepare: (config, previous) => previous ?? { budget: config.policy.length, used: new Map(), closed: false },
  close: (state) => {
    state.closed = true;
  },
  async run(ctx, state) {
    await new Promise((resolve) => setImmediate(resolve));
    const identity = need(ctx.principal, 'the principal').id;
    const policy = need(ctx.policy, 'the policy decision');
    const used = (state.used.get(identity) ?? 0) + 1;
    if (used > state.budget) throw new Denial('internal_error', `budget of ${state.budget} spent`);
    state.used.set(identity, used);
    addRecordAttribute(ctx, 'keybroker.limit.rule', policy.allow ? policy.rule : '');
    addResponseHeader(ctx, 'x-ratelimit-remaining-requests', String(state.budget - used));
  },
};

/** The tests' usual configuration, validated as keybroker loads it. */
async function testConfig(): Promise<Config> {
  const t = await startTestBroker();
  await t.stop();
  return loadConfigFile(t.configFile).config;
}

function withLimit(limit: Step): Step[] {
  return PHASES.map((phase) => (phase.name === 'limit' ? limit : phase));
}

describe('the Check pipeline', () => {
  it('runs the phases in the documented order', () => {
    expect(PHASES.map((p) => p.name)).to.deep.equal(['authenticate', 'route', 'inspect', 'authorize', 'limit', 'credential']);
  });

  it('stays synchronous when no phase has to wait', async () => {
    const config = await testConfig();
    const runtime = buildRuntime(config);
    try {
      const check = createCheck({ runtime: () => runtime, audit: { record() {} }, log: pino({ level: 'silent' }) });
      const facts = {
        decisionId: 'sync',
        method: 'POST',
        authority: 'gateway.local',
        path: '/openai/v1/chat/completions',
        headers: new Map<string, string>(),
        sourcePrincipal: 'spiffe://example.org/ns/research/summarizer',
        sourceCertificate: '',
        contextExtensions: new Map([['destination', 'openai']]),
      };
      const outcome = check(facts);
      expect(outcome).to.not.have.property('then');
      expect(outcome).to.have.property('allow', true);
    } finally {
      releaseRuntime(runtime);
    }
  });

  it('lets a phase wait, read earlier phases, add a record fact and a response header, and deny with a reason', async () => {
    const config = await testConfig();
    const phases = withLimit(stateful(countingLimit));
    const runtime = buildRuntime(config, { phases });
    const records: DecisionRecord[] = [];
    const check = createCheck({ runtime: () => runtime, audit: { record: (r) => records.push(r) }, log: pino({ level: 'silent' }), phases });
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-pipeline-'));
    const server = await startServer({ kind: 'unix', path: join(dir, 'authz.sock') }, check, pino({ level: 'silent' }));
    const client = authorizationClient(server.address);
    try {
      const budget = config.policy.length;
      for (let i = 1; i <= budget; i++) {
        const response = await callCheck(client, envoyCheckRequest());
        expect(response.status.code).to.equal(0);
        expect(response.ok_response?.headers.map((h) => h.header)).to.deep.equal([{ key: 'authorization', value: `Bearer ${CANARY_KEY}` }]);
        expect(response.ok_response?.response_headers_to_add?.map((h) => h.header)).to.deep.equal([{ key: 'x-ratelimit-remaining-requests', value: String(budget - i) }]);
      }
      expect(attributesOf(records[0] as DecisionRecord)).to.include({ 'keybroker.limit.rule': 'research-openai', 'keybroker.policy.rule': 'research-openai' });

      const spent = await callCheck(client, envoyCheckRequest());
      expect(spent.denied_response?.status.code).to.equal(500);
      expect(deniedBody(spent).reason).to.equal('internal_error');
      expect(records.at(-1)).to.include({ decision: 'deny', reason: 'internal_error', detail: `budget of ${budget} spent` });
      expect(records.at(-1)?.keyId).to.equal(undefined);

      // A phase before it denied: the limit phase never ran, so nothing was spent.
      const denied = await callCheck(client, envoyCheckRequest({ principal: 'spiffe://example.org/ns/interns/intern' }));
      expect(deniedBody(denied).reason).to.equal('no_matching_grant');
      expect((runtime.phaseStates.get('limit') as Counter).used.has('spiffe://example.org/ns/interns/intern')).to.equal(false);
      // An allowed answer without response headers is the cached one, with none.
      const plain = buildRuntime(config);
      try {
        const plainCheck = createCheck({ runtime: () => plain, audit: { record() {} }, log: pino({ level: 'silent' }) });
        const outcome = await plainCheck({
          decisionId: 'plain',
          method: 'POST',
          authority: 'gateway.local',
          path: '/openai/v1/chat/completions',
          headers: new Map(),
          sourcePrincipal: 'spiffe://example.org/ns/research/summarizer',
          sourceCertificate: '',
          contextExtensions: new Map([['destination', 'openai']]),
        });
        expect(outcome.allow && outcome.responseHeaders).to.equal(undefined);
      } finally {
        releaseRuntime(plain);
      }
    } finally {
      client.close();
      await server.shutdown();
      releaseRuntime(runtime);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prepares a stateful phase per runtime, carries its state over a reload and releases it once retired', async () => {
    const config = await testConfig();
    const phases = withLimit(stateful(countingLimit));
    const first = buildRuntime(config, { phases });
    const carried = buildRuntime(config, { phases, previous: first });
    const state = first.phaseStates.get('limit') as Counter;
    expect(carried.phaseStates.get('limit')).to.equal(state);
    retirePhaseStates(first, carried, phases);
    first.keys.close();
    first.tokens.close();
    expect(state.closed).to.equal(false);

    const fresh: StatefulPhase<Counter> = { ...countingLimit, prepare: (c) => ({ budget: c.policy.length, used: new Map(), closed: false }) };
    const freshPhases = withLimit(stateful(fresh));
    const next = buildRuntime(config, { phases: freshPhases, previous: carried });
    expect(next.phaseStates.get('limit')).to.not.equal(state);
    retirePhaseStates(carried, next, freshPhases);
    expect(state.closed).to.equal(true);

    const failing: StatefulPhase<Counter> = {
      ...countingLimit,
      prepare: () => {
        throw new Error('limit store unreachable');
      },
    };
    expect(() => buildRuntime(config, { phases: withLimit(stateful(failing)) })).to.throw('limit store unreachable');
    releaseRuntime(carried);
    releaseRuntime(next);
  });
});
