/**
 * The admin API's Explain runs the real pipeline on the runtime in force — but not the
 * limit phase: asking "would this be allowed?" must not take from the identity's real
 * rate limit and budgets (a reservation no usage record would settle, with no decision
 * record of its own). Explaining an agent's request must never lock the agent out, and
 * the explanation says that limits were not checked.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { connectAdmin } from '../../src/admin/client.ts';
import { explainDecision } from '../../src/pipeline/explain.ts';
import { formatExplanation } from '../../src/cli/explain.ts';

const RESEARCH = 'spiffe://example.org/ns/research/summarizer';

describe('explain and the limits', function () {
  this.timeout(20_000);
  let t: TestBroker;
  after(() => t?.stop());

  it('does not take from the rate limit it explains, and says limits were not checked', async () => {
    const config = baseConfig();
    config['limits'] = { rules: [{ id: 'research-rate', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], requests: { rate: 2, per: '1h', burst: 2 } }] };
    t = await startTestBroker({ config: { ...config, admin: { listen: 'unix:admin.sock' } } });
    const admin = connectAdmin(t.broker.adminAddress ?? `unix://${join(t.dir, 'admin.sock')}`);
    try {
      for (let i = 0; i < 3; i++) {
        const { decision } = await admin.Explain({ identity: RESEARCH, destination: 'openai', method: 'POST', path: '/v1/chat/completions' });
        expect(decision?.decision).to.equal('allow');
      }
    } finally {
      admin.close();
    }
    const local = await explainDecision(t.broker.runtime(), { identity: RESEARCH, destination: 'openai', method: 'POST', path: '/v1/chat/completions' });
    expect(local.record.decision).to.equal('allow');
    expect(formatExplanation(local)).to.match(/^limits:\s+not checked/m);
    // The burst of 2 is whole: two real Checks pass, the third is rate limited.
    for (let i = 0; i < 2; i++) {
      const response = await t.check(envoyCheckRequest({ principal: RESEARCH }));
      expect(response.status.code, JSON.stringify(response.denied_response?.body)).to.equal(0);
    }
    const third = await t.check(envoyCheckRequest({ principal: RESEARCH }));
    expect(third.status.code).to.not.equal(0);
  });
});
