/**
 * A deny rule scoped to a person's groups must not be escaped by leaving the user token
 * off: the agent decides whether to send one. Such a deny rule also matches a request
 * that names no person (fail closed); a grant that requires a person still needs one.
 */
import { expect } from 'chai';
import { compilePolicy, type RuleSpec } from '../../src/policy/compile.ts';
import { evaluate } from '../../src/policy/evaluate.ts';
import { whoCan } from '../../src/policy/access-review.ts';
import { reviewMessage } from '../../src/admin/review-message.ts';
import { printReview } from '../../src/cli/who-can.ts';

describe('a person-scoped deny rule', () => {
  const rules: RuleSpec[] = [
    { id: 'agents-openai', effect: 'allow', identities: ['spiffe://td/agents/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/chat/completions'] },
    { id: 'no-contractors', effect: 'deny', identities: ['spiffe://td/agents/*'], destinations: ['openai'], person: { required: true, groups: ['contractors'] } },
    { id: 'finance-with-a-person', effect: 'allow', identities: ['spiffe://td/agents/*'], destinations: ['finance'], person: { required: true, groups: ['analysts'] } },
  ];
  const policy = compilePolicy(rules);
  const ask = (destination: string, person?: { groups: string[] }) =>
    evaluate(policy, { identity: 'spiffe://td/agents/a', destination, method: 'POST', path: '/v1/chat/completions', ...(person ? { person } : {}) });

  it('denies a contractor', () => expect(ask('openai', { groups: ['contractors'] })).to.include({ allow: false, rule: 'no-contractors' }));
  it('is not escaped by omitting the user token (the agent decides whether to send it)', () => {
    expect(ask('openai')).to.include({ allow: false, reason: 'denied_by_rule', rule: 'no-contractors' });
  });
  it('lets a person outside the denied groups through', () => expect(ask('openai', { groups: ['staff'] })).to.include({ allow: true, rule: 'agents-openai' }));
  it('still requires a person for a grant that asks for one', () => {
    expect(ask('finance')).to.include({ allow: false, reason: 'no_matching_grant' });
    expect(ask('finance', { groups: ['analysts'] })).to.include({ allow: true, rule: 'finance-with-a-person' });
  });
  it('who-can lists the deny rule with its person requirement', () => {
    const review = whoCan(policy, { destination: 'openai', method: 'POST', path: '/v1/chat/completions' });
    expect(review.denials.map((d) => [d.rule, d.personRequired, d.personGroups])).to.deep.equal([['no-contractors', true, ['contractors']]]);
    const lines: string[] = [];
    printReview(reviewMessage(review, policy.version), false, { out: (line) => lines.push(line), err: () => undefined });
    expect(lines).to.include.members(['deny  no-contractors: spiffe://td/agents/* → openai * * (person in contractors, or no person)']);
    expect(lines.find((l) => l.startsWith('allow agents-openai'))).to.not.include('person');
  });
});
