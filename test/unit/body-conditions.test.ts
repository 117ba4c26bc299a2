/**
 * Body conditions and the strict JSON reading under them, as pure functions: a grant
 * bounds, a deny rule picks out, and both fail closed on a name they cannot compare.
 */
import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { compileBodyConditions, denyBodyMatch, grantBodyFailure } from '../../src/policy/body-conditions.ts';
import { findDuplicateKey, MAX_DEPTH, parseStrictJson } from '../../src/inspect/parse-json.ts';
import type { BodyFacts } from '../../src/inspect/types.ts';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/config/errors.ts';

const facts = (more: Partial<BodyFacts>): BodyFacts => ({ api: 'openai', stream: false, tools: [], ...more });

describe('body conditions', () => {
  const grant = compileBodyConditions({ models: ['gpt-4o-mini', 'claude-*'], tools: ['search_*'], maxOutputTokens: 100, stream: false }, 'allow')!;
  const deny = compileBodyConditions({ models: ['gpt-4o*'] }, 'deny')!;

  it('compiles to nothing when a rule has no body condition', () => {
    expect(compileBodyConditions({}, 'allow')).to.equal(null);
  });

  it('lets a grant allow only what it lists, exactly', () => {
    expect(grantBodyFailure(grant, facts({ model: 'gpt-4o-mini', maxOutputTokens: 100, tools: ['search_web'] }))).to.equal(undefined);
    expect(grantBodyFailure(grant, facts({ model: 'claude-3', maxOutputTokens: 1 }))).to.equal(undefined);
    expect(grantBodyFailure(grant, facts({ model: 'Gpt-4o-mini', maxOutputTokens: 1 }))).to.deep.equal({ reason: 'model_not_allowed', detail: 'model "Gpt-4o-mini"' });
    expect(grantBodyFailure(grant, facts({ model: null, modelProblem: 'the model is not a string', maxOutputTokens: 1 }))).to.deep.equal({
      reason: 'model_not_allowed',
      detail: 'the model is not a string',
    });
    expect(grantBodyFailure(grant, facts({ model: 'claude-3', maxOutputTokens: 1, tools: ['search_a', null] }))?.reason).to.equal('tool_not_allowed');
    expect(grantBodyFailure(grant, facts({ model: 'claude-3', maxOutputTokens: 1, stream: true }))?.reason).to.equal('stream_not_allowed');
    expect(grantBodyFailure(grant, facts({ model: 'claude-3', maxOutputTokens: Infinity }))?.reason).to.equal('output_tokens_over_limit');
  });

  it('lets a deny rule pick out what it lists, ignoring case, and anything it cannot compare', () => {
    expect(denyBodyMatch(deny, facts({ model: 'GPT-4O' }))).to.equal('model "GPT-4O"');
    expect(denyBodyMatch(deny, facts({ model: null }))).to.equal('a model whose name is not a plain name');
    expect(denyBodyMatch(deny, facts({ model: 'gpt-3.5' }))).to.equal(undefined);
    expect(denyBodyMatch(deny, facts({}))).to.equal(undefined);
  });

  it("checks the called tool's arguments; a deny rule matches only when all its constraints hold", () => {
    const args = { get: { repo: { prefix: 'acme/' }, id: { oneOf: [1, 2] } } };
    const allow = compileBodyConditions({ arguments: args }, 'allow')!;
    const block = compileBodyConditions({ arguments: args }, 'deny')!;
    const call = (toolArguments: Record<string, unknown>, toolName = 'get') => facts({ api: 'mcp', mcpMethod: 'tools/call', toolName, tools: [toolName], toolArguments });
    expect(grantBodyFailure(allow, call({ repo: 'acme/x', id: 2 }))).to.equal(undefined);
    expect(grantBodyFailure(allow, call({ repo: 'acme/x', id: '2' }))?.reason).to.equal('argument_not_allowed');
    expect(grantBodyFailure(allow, call({ repo: 'other' }, 'other'))).to.equal(undefined);
    expect(denyBodyMatch(block, call({ repo: 'acme/x', id: 1 }, 'GET'))).to.include('"repo", "id"');
    expect(denyBodyMatch(block, call({ repo: 'acme/x', id: { n: 1 } }))).to.be.a('string');
    expect(denyBodyMatch(block, call({ repo: 'other/x', id: 1 }))).to.equal(undefined);
  });
});

describe('duplicate JSON keys', () => {
  it('finds a key repeated in one object at any depth, decoded', () => {
    expect(findDuplicateKey('{"a":1,"a":2}')).to.equal('a');
    expect(findDuplicateKey('{"x":[{"b":1},{"c":{"d":1,"\\u0064":2}}]}')).to.equal('d');
    expect(findDuplicateKey('{"a\\\\":1,"a\\\\":2}')).to.equal('a\\');
  });

  it('refuses a duplicate hidden in a value JSON.parse dropped, and a __proto__ key twice', () => {
    expect(() => parseStrictJson('{"a":{"x":1,"x":2},"a":3}')).to.throw(/repeats/);
    expect(() => parseStrictJson('{"__proto__":1,"__proto__":2}')).to.throw(/repeats the key "__proto__"/);
    expect(parseStrictJson('{"__proto__":{"a":1},"b":[{"a":1}],"1":0,"0":1}')).to.deep.equal(JSON.parse('{"__proto__":{"a":1},"b":[{"a":1}],"1":0,"0":1}'));
  });

  it('does not confuse values, strings with quotes, or sibling objects with keys', () => {
    expect(findDuplicateKey('{"a":"a","b":{"a":1},"c":[{"a":1},{"a":2}]}')).to.equal(undefined);
    expect(findDuplicateKey('{"a":"x\\",\\"a\\":1","b":"\\\\","c":"\\\\\\""}')).to.equal(undefined);
    expect(findDuplicateKey('[{"a":1},"a",{"a":2}]')).to.equal(undefined);
    expect(findDuplicateKey('"a"')).to.equal(undefined);
  });

  it('counts colons, written or escaped, inside keys and strings without mistaking them for members', () => {
    expect(() => parseStrictJson('{"a":"x:y","a":"z"}')).to.throw(/repeats the key "a"/);
    expect(() => parseStrictJson('{"a:b":1,"a:b":2}')).to.throw(/repeats/);
    // "a\u003a" decodes to "a:": the same key twice, one colon escaped.
    expect(() => parseStrictJson('{"a\\u003a":1,"a:":2}')).to.throw(/repeats/);
    expect(() => parseStrictJson('{"m":{"k":"\\u003A","k":":"}}')).to.throw(/repeats/);
    // An escaped backslash before "u003a" is not an escaped colon.
    expect(parseStrictJson('{"k":"\\\\u003a","j":"\\u003a:","l":"\\\\\\u003a"}')).to.deep.equal({ k: '\\u003a', j: '::', l: '\\:' });
  });

  it('reads keys holding a backslash exactly, even where V8 13.6 misreads them, and refuses nesting beyond MAX_DEPTH', () => {
    expect(parseStrictJson('{"a":{"b\\\\":1}}')).to.deep.equal({ a: { 'b\\': 1 } });
    expect(parseStrictJson('[{"\\u005c":1,"__proto__":[1e2,true,null,"x"]}]')).to.deep.equal([JSON.parse('{"\\\\":1,"__proto__":[100,true,null,"x"]}')]);
    // Once an object with keys (u, model, p, "x\\") exists, V8 reads "x\u0041" in the same
    // place as "x\\": parseStrictJson must still see "xA", and a second "model".
    const u = `u${Math.random().toString(36).slice(2, 10)}`;
    JSON.parse(`{"${u}":0,"model":"x","p":{},"x\\\\":"x"}`);
    expect(parseStrictJson(`{"${u}":0,"model":"m","p":{},"x\\u0041":1}`)).to.deep.equal({ [u]: 0, model: 'm', p: {}, xA: 1 });
    JSON.parse(`{"${u}":0,"model":"x","p":{},"mode\\\\":"x"}`);
    expect(() => parseStrictJson(`{"${u}":0,"model":"m","p":{},"mode\\u006c":"n"}`)).to.throw(/repeats/);
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    expect(() => parseStrictJson(nested(MAX_DEPTH))).to.not.throw();
    expect(() => parseStrictJson(nested(MAX_DEPTH + 1))).to.throw(/nests more than 512 levels/);
    expect(parseStrictJson('{"u003a":"u003a","b":[":",{"c:":"::"}]}')).to.deep.equal({ u003a: 'u003a', b: [':', { 'c:': '::' }] });
  });

  it('refuses exactly the texts the structural walk finds a duplicate in, over random nested bodies', () => {
    // Keys and strings drawn from pieces that stress the count: colons, escaped colons,
    // escaped backslashes before "u003a", quotes; objects nested in arrays and objects.
    const pieces = ['k', ':', '\\u003a', '\\u003A', '\\\\u003a', '\\"', 'u003a', 'x'];
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return (seed >>> 16) % n;
    };
    const str = () => `"${Array.from({ length: next(3) }, () => pieces[next(pieces.length)]).join('')}"`;
    // Few keys, several spellings of each ("\u003a" is ":"), so some objects repeat one; a
    // key holding a backslash ("\\u003a", "\\") takes the keys-apart path.
    const keys = ['k', ':', '\\u003a', '\\u003A', 'k:', 'k\\u003a', '\\\\u003a', '\\\\'];
    const key = () => `"${keys[next(keys.length)]}"`;
    const value = (depth: number): string => {
      const pick = depth > 2 ? next(3) : next(5);
      if (pick === 0) return str();
      if (pick === 1) return String(next(100));
      if (pick === 2) return 'null';
      if (pick === 3) return `[${Array.from({ length: next(3) }, () => value(depth + 1)).join(',')}]`;
      return `{${Array.from({ length: next(4) }, () => `${key()}:${value(depth + 1)}`).join(',')}}`;
    };
    const accepted: string[] = [];
    const read: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const text = `{${Array.from({ length: 1 + next(4) }, () => `${key()}:${value(0)}`).join(',')}}`;
      if (findDuplicateKey(text) === undefined) {
        accepted.push(text);
        read.push(JSON.stringify(parseStrictJson(text)));
      } else expect(() => parseStrictJson(text), text).to.throw(/repeats/);
    }
    // Both outcomes were exercised.
    expect(accepted.length).to.be.within(300, 2700);
    // What was accepted reads as Python's json reads it (JSON.parse is no reference: once
    // primed by an earlier key with a backslash, V8 13.6 misreads escaped keys).
    const python = 'import json,sys\nfor t in sys.stdin.read().split("\\n"): print(json.dumps(json.loads(t), separators=(",", ":"), ensure_ascii=False))';
    const upstream = execFileSync('python3', ['-c', python], { input: accepted.join('\n'), encoding: 'utf8' })
      .trimEnd()
      .split('\n');
    for (const [i, text] of accepted.entries()) expect(read[i], text).to.equal(upstream[i]);
  });

  it('agrees with a reviver-free reference on random objects', () => {
    for (let i = 0; i < 200; i++) {
      const keys = Array.from({ length: 1 + (i % 7) }, (_, k) => `k${(k * 7 + i) % 5}`);
      const text = `{${keys.map((k, n) => `"${k}":${n % 2 ? '"v,\\"}"' : '[{"z":1}]'}`).join(',')}}`;
      const expected = keys.find((k, n) => keys.indexOf(k) !== n);
      expect(findDuplicateKey(text), text).to.equal(expected);
      // parseStrictJson counts keys instead, and names the key only when the counts differ.
      if (expected === undefined) expect(() => parseStrictJson(text), text).to.not.throw();
      else expect(() => parseStrictJson(text), text).to.throw(`repeats the key "${expected}"`);
    }
  });
});

describe('body conditions in the config', () => {
  const config = (rule: Record<string, unknown>, api: string | null = 'openai') =>
    stringify({
      trust: { 'example.org': {} },
      keys: { store: 'env' },
      destinations: { llm: { upstream: 'api.openai.com', inject: 'openai', key: 'openai/prod', ...(api ? { api } : {}) } },
      policy: [{ id: 'r', identities: ['spiffe://example.org/a'], destinations: ['llm'], methods: ['POST'], paths: ['/*'], ...rule }],
    });
  const problems = (text: string): string => {
    try {
      parseConfigText(text, 'k.yaml', '/tmp');
      return '';
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigError);
      return (error as Error).message;
    }
  };

  it('accepts every condition on a destination that speaks its api', () => {
    expect(problems(config({ models: ['gpt-4o-mini', 'o3-*'], maxOutputTokens: 10, stream: false, tools: ['a_*'] }))).to.equal('');
    expect(problems(config({ mcpMethods: ['tools/call'], tools: ['get'], arguments: { get: { repo: { prefix: 'a/', regex: '^a/.*$', maxLength: 9 }, n: { oneOf: [1, 2] } } } }, 'mcp'))).to.equal('');
  });

  it('names the rule, the condition and what the destination lacks', () => {
    expect(problems(config({ models: ['gpt-4o'] }, null))).to.match(/policy\[0\]\.models.*destination "llm" declares no api; models needs api openai or anthropic/s);
    expect(problems(config({ mcpMethods: ['tools/call'] }))).to.match(/policy\[0\]\.mcpMethods.*speaks api "openai"/s);
    expect(problems(config({ effect: 'deny', maxOutputTokens: 5 }))).to.match(/maxOutputTokens bounds what a grant allows/);
  });

  it('refuses patterns and constraints that would not mean what they say', () => {
    expect(problems(config({ models: ['gpt-*-mini'] }))).to.match(/policy\[0\]\.models\[0\]/);
    expect(problems(config({ models: ['*'] }))).to.match(/policy\[0\]\.models\[0\]/);
    expect(problems(config({ arguments: { get: { repo: { regex: 'acme/.*' } } } }, 'mcp'))).to.match(/anchored at both ends/);
    expect(problems(config({ arguments: { get: { repo: { regex: '^(a$' } } } }, 'mcp'))).to.match(/not a valid regular expression/);
    expect(problems(config({ arguments: { get: { repo: {} } } }, 'mcp'))).to.match(/at least one of/);
    expect(problems(config({ arguments: { 'get_*': { repo: { prefix: 'a' } } } }, 'mcp'))).to.match(/expected a tool name/);
    expect(problems(config({ models: [] }))).to.match(/policy\[0\]\.models/);
  });
});
