/**
 * Access review (policy/access-review.ts, behind `who-can` and `can`) agrees with Check:
 * for every request tried, who-can lists a grant naming the identity and no deny rule
 * naming it iff Check allows it, and can lists a grant covering the request and no deny
 * rule covering it iff Check allows it — on the demo through the real Check over a socket, and on a generated
 * 1,000-rule policy (grants, prefix patterns, deny rules, shadow rules) through the real
 * pipeline offline.
 */
import { expect } from 'chai';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfigText } from '../../src/config/load.ts';
import type { RuleSpec } from '../../src/policy/compile.ts';
import { identityMatches, whatCan, whoCan, type ReviewedRule } from '../../src/policy/access-review.ts';
import { offlineCheck } from '../../src/review/offline-check.ts';
import { startTestBroker } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { ROOT } from '../helpers/process.ts';

function covers(rule: ReviewedRule, method: string, path: string): boolean {
  const methodOk = rule.methods.length === 0 || rule.methods.includes(method);
  const pathOk = rule.paths.length === 0 || rule.paths.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : p === path));
  return methodOk && pathOk;
}

const names = (rule: ReviewedRule, identity: string) => rule.identities.some((p) => identityMatches(p, identity));

/** What the review says about one request (no person, no body): who-can, and can. */
function reviewAllows(rules: readonly RuleSpec[], identity: string, destination: string, method: string, path: string): { whoCan: boolean; can: boolean } {
  const who = whoCan(rules, { destination, method, path });
  const can = whatCan(rules, { identity, destination });
  const unconditional = (r: ReviewedRule) => !r.personRequired;
  return {
    whoCan: who.grants.some((g) => unconditional(g) && names(g, identity)) && !who.denials.some((d) => unconditional(d) && names(d, identity)),
    can: can.grants.some((g) => unconditional(g) && covers(g, method, path)) && !can.denials.some((d) => unconditional(d) && covers(d, method, path)),
  };
}

/** A small, seeded PRNG (mulberry32): the same policy and requests every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('access review agrees with Check', function () {
  this.timeout(180_000);

  it('on the demo, through the real Check over a socket', async () => {
    const demo = parse(readFileSync(join(ROOT, 'examples/keybroker.yaml'), 'utf8')) as Record<string, unknown> & { policy: unknown[]; trust: Record<string, { bundle: { file: string } }> };
    demo.trust['demo.local']!.bundle.file = join(ROOT, 'examples/demo-jwt/bundle.jwks');
    delete demo['listen'];
    demo.policy.push(
      { id: 'no-embeddings-for-agents', effect: 'deny', identities: ['spiffe://demo.local/agent/*'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/embeddings'] },
      { id: 'shadow-interns', mode: 'shadow', identities: ['spiffe://demo.local/agent/intern'], destinations: ['openai'], methods: ['POST'], paths: ['/v1/*'] },
    );
    const t = await startTestBroker({ config: demo, keys: { 'openai/prod': 'sk-demo-a', 'anthropic/prod': 'sk-demo-b' } });
    try {
      const rules = t.broker.runtime().config.policy;
      let allowed = 0;
      let tried = 0;
      for (const identity of ['spiffe://demo.local/agent/research', 'spiffe://demo.local/agent/intern', 'spiffe://demo.local/other/research']) {
        for (const destination of ['openai', 'anthropic']) {
          for (const method of ['GET', 'POST']) {
            for (const path of ['/v1/chat/completions', '/v1/embeddings', '/v1/messages', '/v1/models']) {
              const response = await t.check(envoyCheckRequest({ principal: identity, destination, method, host: 'localhost', path: `/${destination}${path}` }));
              const checkAllows = response.status.code === 0;
              const review = reviewAllows(rules, identity, destination, method, path);
              const what = `${identity} ${method} ${destination}${path}`;
              expect(review.whoCan, `who-can, ${what}`).to.equal(checkAllows);
              expect(review.can, `can, ${what}`).to.equal(checkAllows);
              tried++;
              if (checkAllows) allowed++;
            }
          }
        }
      }
      expect(tried).to.equal(48);
      expect(allowed).to.equal(2); // research: openai chat, anthropic messages (embeddings denied by rule)
    } finally {
      await t.stop();
      rmSync(t.dir, { recursive: true, force: true });
    }
  });

  it('on a generated 1,000-rule policy, for 2,000 random requests, through the real pipeline', async () => {
    const rand = random(13);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
    const namespaces = ['a', 'b', 'c', 'd', 'e', 'f'];
    const workloads = ['w1', 'w2', 'w3', 'w4'];
    const destinations = ['d1', 'd2', 'd3'];
    const paths = ['/v1/chat', '/v1/embed', '/v1/models/x', '/v2/files', '/admin'];
    const identityPattern = (): string => {
      const r = rand();
      if (r < 0.05) return 'spiffe://example.org/*';
      if (r < 0.4) return `spiffe://example.org/ns/${pick(namespaces)}/*`;
      return `spiffe://example.org/ns/${pick(namespaces)}/${pick(workloads)}`;
    };
    const pathPattern = (): string => pick(['/v1/chat', '/v1/embed', '/v1/*', '/v1/models/*', '/v2/*', '/*', '/admin']);
    const rules = Array.from({ length: 1000 }, (_, i) => {
      const deny = rand() < 0.04;
      const shadow = rand() < 0.05;
      return {
        id: `r${i}`,
        ...(deny ? { effect: 'deny' } : {}),
        ...(shadow ? { mode: 'shadow' } : {}),
        identities: Array.from({ length: 1 + Math.floor(rand() * 2) }, identityPattern),
        destinations: [pick(destinations)],
        ...(deny && rand() < 0.2 ? {} : { methods: rand() < 0.2 ? ['*'] : [pick(['GET', 'POST'])] }),
        ...(deny && rand() < 0.2 ? {} : { paths: [pathPattern(), pathPattern()] }),
      };
    });
    const config = parseConfigText(
      JSON.stringify({
        trust: { 'example.org': {} },
        keys: { store: 'env' },
        destinations: Object.fromEntries(destinations.map((d) => [d, { upstream: `${d}.example.com`, inject: 'openai', key: `${d}/key` }])),
        policy: rules,
      }),
      'generated.yaml',
      '/tmp',
    );
    const check = offlineCheck(config);
    try {
      expect(check.runtime.policy.ruleCount).to.equal(1000);
      const counts = { allow: 0, deny: 0, deniedByRule: 0 };
      for (let i = 0; i < 2000; i++) {
        const identity = `spiffe://example.org/ns/${pick(namespaces)}/${pick(workloads)}`;
        const destination = pick(destinations);
        const method = pick(['GET', 'POST', 'DELETE']);
        const path = pick(paths);
        const record = await check.decide({ identity, destination, method, path });
        const checkAllows = record.decision === 'allow';
        const review = reviewAllows(config.policy, identity, destination, method, path);
        const what = `${identity} ${method} ${destination}${path} (${record.reason} ${record.rule ?? ''})`;
        expect(review.whoCan, `who-can, ${what}`).to.equal(checkAllows);
        expect(review.can, `can, ${what}`).to.equal(checkAllows);
        counts[checkAllows ? 'allow' : 'deny']++;
        if (record.reason === 'denied_by_rule') counts.deniedByRule++;
      }
      // The sample exercises every outcome, or the agreement says little.
      expect(counts.allow, JSON.stringify(counts)).to.be.greaterThan(100);
      expect(counts.deny).to.be.greaterThan(100);
      expect(counts.deniedByRule).to.be.greaterThan(50);
    } finally {
      check.close();
    }
  });
});
