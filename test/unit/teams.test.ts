import { expect } from 'chai';
import { compileTeams, teamsOf } from '../../src/policy/teams.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/config/errors.ts';

describe('teams', () => {
  const index = compileTeams({
    research: ['spiffe://td/ns/research/*', 'spiffe://td/agent/lead'],
    leads: ['spiffe://td/agent/lead'],
    everyone: ['spiffe://td/*'],
  });

  it('resolves exact and prefix members, sorted, as policy identities match', () => {
    expect(teamsOf(index, 'spiffe://td/ns/research/a')).to.deep.equal(['everyone', 'research']);
    expect(teamsOf(index, 'spiffe://td/ns/research/a/b')).to.deep.equal(['everyone', 'research']);
    expect(teamsOf(index, 'spiffe://td/agent/lead')).to.deep.equal(['everyone', 'leads', 'research']);
    expect(teamsOf(index, 'spiffe://td/ns/researcher')).to.deep.equal(['everyone']);
    expect(teamsOf(index, 'spiffe://other/ns/research/a')).to.deep.equal([]);
  });

  it('is empty without teams', () => {
    expect(teamsOf(compileTeams({}), 'spiffe://td/a')).to.deep.equal([]);
  });

  const config = (teams: unknown) => JSON.stringify({ trust: { td: {} }, keys: { store: 'env' }, destinations: {}, teams });

  it('validates names and patterns in config, with the path of the problem', () => {
    expect(parseConfigText(config({ research: ['spiffe://td/ns/research/*'] }), 'c.yaml', '/tmp').teams).to.deep.equal({ research: ['spiffe://td/ns/research/*'] });
    expect(parseConfigText(config(undefined), 'c.yaml', '/tmp').teams).to.deep.equal({});
    const problem = (teams: unknown) => {
      try {
        parseConfigText(config(teams), 'c.yaml', '/tmp');
      } catch (error) {
        expect(error).to.be.instanceOf(ConfigError);
        return (error as Error).message;
      }
      return expect.fail('accepted');
    };
    expect(problem({ Research: ['spiffe://td/a'] })).to.match(/teams.*team name/);
    expect(problem({ research: ['spiffe://td/ns/*/x'] })).to.match(/teams\.research\[0\]|teams.research.0/);
    expect(problem({ research: ['spiffe://elsewhere/a'] })).to.match(/trust domain "elsewhere" is not configured/);
    expect(problem({ research: [] })).to.match(/teams/);
  });
});
