/**
 * The `inject:` and `key:` configuration: every shape accepted as documented, every
 * mistake refused with the path and what was expected.
 */
import { expect } from 'chai';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { stringify } from 'yaml';

const load = (inject: unknown, key = 'tool/prod', extra: Record<string, unknown> = {}) =>
  parseConfigText(stringify({ trust: { td: {} }, keys: { store: 'env' }, destinations: { tool: { upstream: 'tool.example', inject, key } }, ...extra }), 'k.yaml', '/work');
const problem = (inject: unknown, key?: string, extra?: Record<string, unknown>) => {
  try {
    load(inject, key, extra);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('inject: and key: configuration', () => {
  it('accepts every documented shape', () => {
    for (const inject of [
      'openai',
      'anthropic',
      'azure-openai',
      'google',
      'bearer',
      { bearer: '${key.token}' },
      { header: 'x-api-key', value: 'Token ${key}' },
      { header: 'x-api-key', prefix: 'Token ' },
      { header: 'x-api-key' },
      { headers: { 'x-id': '${key.id}', 'x-secret': '${key.secret}', 'x-version': '2' } },
      { basic: { username: '${key}', password: '' } },
      { basic: { username: '${key.sid}', password: '${key.secret}' } },
      { query: 'key' },
      { query: { name: 'api_key', value: '${key}' } },
      { oauth2: { tokenUrl: 'https://login.example/oauth2/token', clientId: 'keybroker', scopes: ['read'] } },
      { oauth2: { tokenUrl: 'http://127.0.0.1:8080/token', clientId: 'kb', auth: 'client_secret_post', audience: 'https://api', ca: './ca.pem', timeout: '2s' } },
      { oauth2: { tokenUrl: 'https://login.example/token', clientId: 'kb', auth: 'private_key_jwt', assertionAudience: 'https://login.example' } },
    ]) {
      expect(() => load(inject), JSON.stringify(inject)).to.not.throw();
    }
    const teams = { teams: { research: ['spiffe://td/research/*'] } };
    for (const key of ['openai/prod', 'openai/prod@7', 'stripe/prod#secret_key', 'openai/{team}', 'openai/{team}@2#value', 'team-{team}/openai']) {
      expect(() => load('openai', key, teams), key).to.not.throw();
    }
    expect(problem('openai', 'openai/{team}')).to.match(/destinations\.tool\.key: the key is chosen by \{team\}, but no teams: are configured/);
  });

  it("anchors the OAuth2 ca to the config file's directory, and defaults the client authentication", () => {
    const inject = load({ oauth2: { tokenUrl: 'https://login.example/t', clientId: 'kb', ca: './ca.pem' } }).destinations['tool']!.inject as unknown as { oauth2: Record<string, unknown> };
    expect(inject.oauth2).to.include({ ca: '/work/ca.pem', auth: 'client_secret_basic', timeout: 5000 });
  });

  it('refuses mistakes, saying where and what was expected', () => {
    const cases: Array<[unknown, RegExp, string?]> = [
      ['openia', /destinations\.tool\.inject: expected one of openai, anthropic, azure-openai, google, bearer, or an object/],
      [{ bearer: 'x', query: 'key' }, /expected one of/],
      [{ header: 'X-Api-Key', value: '${key}' }, /inject\.header: expected a lowercase HTTP header name/],
      [{ header: 'host', value: '${key}' }, /inject\.header: this header decides routing/],
      [{ header: 'x-api-key', value: 'Token' }, /inject\.value: must contain \$\{key\}/],
      [{ header: 'x-api-key', value: '${key}', prefix: 'a' }, /either value .* or prefix\/suffix/],
      [{ header: 'x-api-key', value: '${secret}' }, /"\$\{secret\}" is not a placeholder/],
      [{ header: 'x-api-key', value: 'a\nb ${key}' }, /printable ASCII/],
      [{ headers: { 'x-a': 'constant' } }, /at least one header must carry/],
      [{ basic: { username: 'me', password: 'pw' } }, /username or password must carry/],
      [{ basic: { username: '${key}' } }, /inject\.basic\.password/],
      [{ query: 'bad name' }, /inject\.query: expected a query parameter name/],
      [{ query: { name: 'key', value: 'v=${key}' } }, /inject\.query\.value: may contain, besides \$\{key\}, only letters/],
      [{ oauth2: { tokenUrl: 'http://login.example/token', clientId: 'kb' } }, /inject\.oauth2\.tokenUrl: .*https \(plain http only on loopback\)/],
      [{ oauth2: { tokenUrl: 'https://login.example/token', clientId: 'kb', scope: ['x'] } }, /unknown key\(s\) "scope" for inject\.oauth2/],
      [{ oauth2: { tokenUrl: 'https://login.example/token', clientId: 'kb', auth: 'tls_client_auth' } }, /inject\.oauth2\.auth/],
      [
        { oauth2: { tokenUrl: 'https://login.example/token', clientId: 'kb', assertionAudience: 'https://login.example' } },
        /inject\.oauth2\.assertionAudience: assertionAudience is for auth: private_key_jwt/,
      ],
      ['openai', /destinations\.tool\.key: expected a key reference/, 'openai/{tenant}'],
      ['openai', /destinations\.tool\.key: expected a key reference/, 'openai/prod#'],
    ];
    for (const [inject, message, key] of cases) expect(problem(inject, key), JSON.stringify(inject)).to.match(message);
  });

  it('takes key: on a grant, not on a deny rule', () => {
    const rule = (effect: string) => ({ policy: [{ id: 'r', effect, identities: ['spiffe://td/x'], destinations: ['tool'], methods: ['*'], paths: ['/*'], key: 'tool/special' }] });
    expect(() => load('openai', 'tool/prod', rule('allow'))).to.not.throw();
    expect(problem('openai', 'tool/prod', rule('deny'))).to.match(/policy\[0\]\.key: a deny rule injects nothing/);
  });
});
