/**
 * Access review (policy/access-review.ts, behind `who-can` and `can`) answers from the
 * compiled policy Check decides with, and agrees with Check: for every request tried,
 * who-can lists a grant naming the identity (whose person requirement the request meets)
 * and no such deny rule iff Check allows it, and the first such rule, in policy order, is
 * the rule Check reports; `can` lists a grant covering the request and no deny rule
 * covering it iff Check allows it. On the demo through the real Check over a socket; on
 * a generated 1,000-rule policy (grants, prefix patterns, deny rules, shadow rules, person
 * requirements, model conditions read from bodies) through the real pipeline offline.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfigText } from '../../src/config/load.ts';
import type { CompiledPolicy } from '../../src/policy/compile.ts';
import { whatCan, whoCan, type ReviewedRule } from '../../src/policy/access-review.ts';
import { inspectBody } from '../../src/inspect/inspect.ts';
import { wholeJsonBodyHeaders } from '../../src/inspect/read-body.ts';
import type { BodyFacts } from '../../src/model/body.ts';
import { offlineCheck } from '../../src/review/offline-check.ts';
import { startTestBroker } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { ROOT } from '../helpers/process.ts';

interface Asked {
  readonly identity: string;
  readonly destination: string;
  readonly method: string;
  readonly path: string;
  readonly person?: { readonly groups: readonly string[] } | undefined;
  readonly body?: BodyFacts | undefined;
}

/** Reading a listed rule as a person would: its patterns, methods and paths, as written. */
const named = (rule: ReviewedRule, identity: string) => rule.identities.some((p) => (p.endsWith('/*') ? identity.startsWith(p.slice(0, -1)) : p === identity));
const covers = (rule: ReviewedRule, method: string, path: string) =>
  (rule.methods.length === 0 || rule.methods.includes(method)) && (rule.paths.length === 0 || rule.paths.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : p === path)));
// A deny rule's person requirement also holds when no person is named (fail closed).
const personMeets = (rule: ReviewedRule, person: Asked['person']) =>
  !rule.personRequired || (person === undefined ? rule.effect === 'deny' : rule.personGroups.length === 0 || rule.personGroups.some((g) => person.groups.includes(g)));

/** What the review says of one request: allowed or not by who-can and by can, and the rule that decides by who-can. */
function reviewed(policy: CompiledPolicy, asked: Asked): { whoCan: boolean; can: boolean; rule: string | undefined } {
  const who = whoCan(policy, { destination: asked.destination, method: asked.method, path: asked.path, body: asked.body });
  const applies = (r: ReviewedRule) => named(r, asked.identity) && personMeets(r, asked.person);
  const grant = who.grants.find(applies);
  const deny = who.denials.find(applies);
  const can = whatCan(policy, { identity: asked.identity, destination: asked.destination, body: asked.body });
  const canApplies = (r: ReviewedRule) => covers(r, asked.method, asked.path) && personMeets(r, asked.person);
  return {
    whoCan: grant !== undefined && deny === undefined,
    can: can.grants.some(canApplies) && !can.denials.some(canApplies),
    rule: (deny ?? grant)?.rule,
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
      const policy = t.broker.runtime().policy;
      let allowed = 0;
      let tried = 0;
      for (const identity of ['spiffe://demo.local/agent/research', 'spiffe://demo.local/agent/intern', 'spiffe://demo.local/other/research']) {
        for (const destination of ['openai', 'anthropic']) {
          for (const method of ['GET', 'POST']) {
            for (const path of ['/v1/chat/completions', '/v1/embeddings', '/v1/messages', '/v1/models']) {
              const response = await t.check(envoyCheckRequest({ principal: identity, destination, method, host: 'localhost', path: `/${destination}${path}` }));
              const checkAllows = response.status.code === 0;
              const review = reviewed(policy, { identity, destination, method, path });
              const what = `${identity} ${method} ${destination}${path}`;
              expect(review.whoCan, `who-can, ${what}`).to.equal(checkAllows);
              expect(review.can, `can, ${what}`).to.equal(checkAllows);
              if (checkAllows) expect(review.rule, `the deciding rule, ${what}`).to.equal(destination === 'openai' ? 'research-agents-openai' : 'research-agents-anthropic');
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

  it('on a generated 1,000-rule policy with persons and model rules, for 3,000 random requests, through the real pipeline', async () => {
    const rand = random(13);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
    const namespaces = ['a', 'b', 'c', 'd', 'e', 'f'];
    const workloads = ['w1', 'w2', 'w3', 'w4'];
    // d1 speaks the OpenAI api: its rules may bound the model, read from the body.
    const destinations = ['d1', 'd2', 'd3'];
    const paths = ['/v1/chat', '/v1/embed', '/v1/models/x', '/v2/files', '/admin'];
    const models = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-nano', 'o3'];
    const groups = ['ml', 'ops', 'finance'];
    const identityPattern = (): string => {
      const r = rand();
      if (r < 0.05) return 'spiffe://example.org/*';
      if (r < 0.4) return `spiffe://example.org/ns/${pick(namespaces)}/*`;
      return `spiffe://example.org/ns/${pick(namespaces)}/${pick(workloads)}`;
    };
    const pathPattern = (): string => pick(['/v1/chat', '/v1/embed', '/v1/*', '/v1/models/*', '/v2/*', '/*', '/admin']);
    const rules = Array.from({ length: 1000 }, (_, i) => {
      const deny = rand() < 0.03;
      const shadow = rand() < 0.05;
      const destination = pick(destinations);
      const person = rand() < 0.12 ? { person: { required: true, ...(rand() < 0.6 ? { groups: [pick(groups)] } : {}) } } : {};
      const body = destination === 'd1' && rand() < 0.9 ? { models: rand() < 0.5 ? [pick(models)] : [pick(models), 'gpt-4.1-*'] } : {};
      return {
        id: `r${i}`,
        ...(deny ? { effect: 'deny' } : {}),
        ...(shadow ? { mode: 'shadow' } : {}),
        identities: Array.from({ length: 1 + Math.floor(rand() * 2) }, identityPattern),
        destinations: [destination],
        ...(deny && rand() < 0.2 ? {} : { methods: rand() < 0.2 ? ['*'] : [pick(['GET', 'POST'])] }),
        ...(deny && rand() < 0.2 ? {} : { paths: [pathPattern(), pathPattern()] }),
        ...person,
        ...body,
      };
    });
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-access-review-'));
    writeFileSync(join(dir, 'people.jwks'), JSON.stringify({ keys: [] }));
    const config = parseConfigText(
      JSON.stringify({
        trust: { 'example.org': {} },
        issuers: [{ kind: 'person', name: 'people', issuer: 'https://login.example.com', jwks: { file: './people.jwks' }, audiences: ['keybroker'] }],
        keys: { store: 'env' },
        destinations: Object.fromEntries(destinations.map((d) => [d, { upstream: `${d}.example.com`, inject: 'openai', key: `${d}/key`, ...(d === 'd1' ? { api: 'openai' } : {}) }])),
        policy: rules,
      }),
      'generated.yaml',
      dir,
    );
    const check = offlineCheck(config);
    try {
      const policy = check.runtime.policy;
      expect(policy.ruleCount).to.equal(1000);
      const counts = { allow: 0, deny: 0, deniedByRule: 0, byModel: 0, withPerson: 0 };
      for (let i = 0; i < 3000; i++) {
        const identity = `spiffe://example.org/ns/${pick(namespaces)}/${pick(workloads)}`;
        const destination = pick(destinations);
        const method = pick(['GET', 'POST', 'DELETE']);
        const path = pick(paths);
        const r = rand();
        const person = r < 0.4 ? undefined : { sub: 'p', groups: r < 0.8 ? [pick(groups)] : [] };
        // Every request to d1 has a body (some name no model); the review is asked with its facts, read as Check reads them.
        const json = destination === 'd1' ? (rand() < 0.9 ? { model: pick(models) } : { messages: [] }) : undefined;
        const bytes = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
        const body = bytes && inspectBody({ body: bytes, headers: wholeJsonBodyHeaders(bytes) }, 'openai', path);
        const record = await check.decide({ identity, destination, method, path, person, body: bytes });
        const checkAllows = record.decision === 'allow';
        const review = reviewed(policy, { identity, destination, method, path, person, body });
        const what = `${identity} ${method} ${destination}${path} person ${JSON.stringify(person)} body ${JSON.stringify(json)} (${record.reason} ${record.rule ?? ''})`;
        expect(review.whoCan, `who-can, ${what}`).to.equal(checkAllows);
        expect(review.can, `can, ${what}`).to.equal(checkAllows);
        if (checkAllows || record.reason === 'denied_by_rule') expect(review.rule, `the deciding rule, ${what}`).to.equal(record.rule);
        counts[checkAllows ? 'allow' : 'deny']++;
        if (record.reason === 'denied_by_rule') counts.deniedByRule++;
        if (record.reason === 'model_not_allowed') counts.byModel++;
        if (checkAllows && person) counts.withPerson++;
      }
      // The sample exercises every outcome, or the agreement says little.
      expect(counts.allow, JSON.stringify(counts)).to.be.greaterThan(150);
      expect(counts.deny, JSON.stringify(counts)).to.be.greaterThan(150);
      expect(counts.deniedByRule, JSON.stringify(counts)).to.be.greaterThan(50);
      expect(counts.byModel, JSON.stringify(counts)).to.be.greaterThan(20);
      expect(counts.withPerson, JSON.stringify(counts)).to.be.greaterThan(50);
    } finally {
      check.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
