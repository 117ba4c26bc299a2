/**
 * Team keys from the environment store, over a real socket: two teams whose `{team}` keys
 * read the same variable are both denied key_unavailable from the first Check, never
 * served each other's key; other teams are unaffected.
 */
import { expect } from 'chai';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';

const VARIABLES = { KBENVTEST_OPENAI_ML_OPS: CANARY_KEY, KBENVTEST_OPENAI_RESEARCH: 'sk-research-team' };

describe('team keys from the environment', () => {
  let t: TestBroker;
  before(async () => {
    Object.assign(process.env, VARIABLES);
    const config = baseConfig();
    config['keys'] = { store: 'env', prefix: 'KBENVTEST_' };
    config['teams'] = { 'ml-ops': ['spiffe://example.org/ns/ml-ops/*'], ml_ops: ['spiffe://example.org/ns/ml_ops/*'], research: ['spiffe://example.org/ns/research/*'] };
    const destinations = config['destinations'] as Record<string, Record<string, unknown>>;
    config['destinations'] = { openai: { ...destinations['openai'], key: 'openai/{team}' } };
    config['policy'] = [{ id: 'teams', identities: ['spiffe://example.org/ns/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] }];
    t = await startTestBroker({ config });
  });
  after(async () => {
    await t?.stop();
    for (const name of Object.keys(VARIABLES)) delete process.env[name];
    expectNoCanary(t.logs.text(), 'the log');
  });

  it('denies both teams whose keys share a variable, and serves the others', async () => {
    for (const principal of ['spiffe://example.org/ns/ml-ops/agent', 'spiffe://example.org/ns/ml_ops/agent']) {
      const response = await t.check(envoyCheckRequest({ principal }));
      expect(response.ok_response, principal).to.equal(undefined);
      expect(deniedBody(response).reason).to.equal('key_unavailable');
    }
    const research = await t.check(envoyCheckRequest({ principal: 'spiffe://example.org/ns/research/agent' }));
    expect(research.status.code).to.equal(0);
    expect(JSON.stringify(research.ok_response)).to.include('sk-research-team');
    const detail = t.logs
      .lines()
      .map((l) => (l['decision'] as { detail?: string } | undefined)?.detail)
      .find((d) => d?.includes('ml_ops'));
    expect(detail).to.match(/"openai\/ml-ops" and "openai\/ml_ops" both read KBENVTEST_OPENAI_ML_OPS/);
  });
});
