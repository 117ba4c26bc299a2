import { expect } from 'chai';
import { compilePolicy, type RuleSpec } from '../../src/policy/compile.ts';
import { evaluate } from '../../src/policy/evaluate.ts';

const rules: RuleSpec[] = [
  { id: 'exact', effect: 'allow', identities: ['spiffe://td/agent/a'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] },
  { id: 'prefix', effect: 'allow', identities: ['spiffe://td/team/*'], destinations: ['openai'], methods: ['GET', 'POST'], paths: ['/v1/models/*'] },
  { id: 'anything', effect: 'allow', identities: ['spiffe://td/admin'], destinations: ['openai'], methods: ['*'], paths: ['/*'] },
  { id: 'no-deletes', effect: 'deny', identities: ['spiffe://td/*'], destinations: ['openai'], methods: ['DELETE'] },
];
const policy = compilePolicy(rules);
const ask = (identity: string, method: string, path: string, destination = 'openai') => evaluate(policy, { identity, destination, method, path });

describe('policy', () => {
  it('grants an exact identity, method and path', () => {
    expect(ask('spiffe://td/agent/a', 'POST', '/v1/chat/completions')).to.deep.equal({ allow: true, rule: 'exact' });
  });
  it('denies by default', () => {
    expect(ask('spiffe://td/agent/b', 'POST', '/v1/chat/completions')).to.deep.equal({ allow: false, reason: 'no_matching_grant' });
    expect(ask('spiffe://td/agent/a', 'POST', '/v1/chat/completions', 'anthropic')).to.include({ allow: false });
    expect(ask('spiffe://td/agent/a', 'GET', '/v1/chat/completions')).to.include({ allow: false });
    expect(ask('spiffe://td/agent/a', 'POST', '/v1/chat/completions/x')).to.include({ allow: false });
  });
  it('matches identity prefixes by path segment only', () => {
    expect(ask('spiffe://td/team/x', 'GET', '/v1/models/gpt')).to.deep.equal({ allow: true, rule: 'prefix' });
    expect(ask('spiffe://td/team/x/y', 'GET', '/v1/models/gpt')).to.include({ allow: true });
    expect(ask('spiffe://td/teammate', 'GET', '/v1/models/gpt')).to.include({ allow: false });
    expect(ask('spiffe://td/team', 'GET', '/v1/models/gpt')).to.include({ allow: false });
  });
  it('lets a deny rule beat any grant', () => {
    expect(ask('spiffe://td/admin', 'DELETE', '/v1/files/1')).to.deep.equal({ allow: false, reason: 'denied_by_rule', rule: 'no-deletes' });
    expect(ask('spiffe://td/admin', 'PATCH', '/v1/files/1')).to.deep.equal({ allow: true, rule: 'anything' });
  });
  it('versions the policy by content', () => {
    expect(compilePolicy(rules).version).to.equal(policy.version);
    expect(compilePolicy(rules.slice(1)).version).to.not.equal(policy.version);
  });
  it('decides from the index, not a scan: 10,000 grants and still only the right one matches', () => {
    const many: RuleSpec[] = Array.from({ length: 10_000 }, (_, i) => ({
      id: `r${i}`,
      effect: 'allow',
      identities: [`spiffe://td/agents/a${i}`],
      destinations: ['openai'],
      methods: ['POST'],
      paths: ['/v1/chat/completions'],
    }));
    const big = compilePolicy(many);
    expect(big.byDestination.get('openai')?.exact.get('spiffe://td/agents/a9999')).to.have.length(1);
    expect(evaluate(big, { identity: 'spiffe://td/agents/a9999', destination: 'openai', method: 'POST', path: '/v1/chat/completions' })).to.deep.equal({ allow: true, rule: 'r9999' });
    expect(evaluate(big, { identity: 'spiffe://td/agents/a10000', destination: 'openai', method: 'POST', path: '/v1/chat/completions' })).to.include({ allow: false });
  });
});
