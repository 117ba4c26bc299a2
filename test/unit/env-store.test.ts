/**
 * The environment key store maps a key reference to one variable name, upper-cased with
 * every other character made "_": `openai/ml-ops` and `openai/ml_ops` both name
 * OPENAI_ML_OPS. Two references that the configuration can ask for and that share a
 * variable must never silently share a key — one team served another team's key.
 */
import { expect } from 'chai';
import { EnvKeyStore, envVariableFor } from '../../src/credentials/env-store.ts';
import { KeyUnavailableError } from '../../src/credentials/store.ts';

const PREFIX = 'KB_';

describe('environment key store', () => {
  it('reads a key and the fields of a key from their variables', () => {
    const store = new EnvKeyStore(PREFIX, { KB_OPENAI_PROD: 'sk-prod', KB_TWILIO_PROD__SID: 'AC1', KB_TWILIO_PROD__SECRET: 's' });
    expect(store.get('openai/prod').reveal()).to.equal('sk-prod');
    expect(store.get('twilio/prod').field('sid')).to.equal('AC1');
    expect(envVariableFor(PREFIX, 'openai/ml-ops')).to.equal(envVariableFor(PREFIX, 'openai/ml_ops'));
  });

  it('serves neither of two references the configuration uses that share a variable, and says why', async () => {
    const store = new EnvKeyStore(PREFIX, { KB_OPENAI_ML_OPS: 'sk-one-team', KB_OPENAI_RESEARCH: 'sk-research' });
    // As keybroker starts: every reference the configuration can ask for ("openai/{team}" for each team).
    await store.warm(['openai/ml-ops', 'openai/ml_ops', 'openai/research']);
    for (const ref of ['openai/ml_ops', 'openai/ml-ops']) {
      expect(() => store.get(ref), ref)
        .to.throw(KeyUnavailableError)
        .with.property('message')
        .that.matches(/"openai\/ml-ops" and "openai\/ml_ops" both read KB_OPENAI_ML_OPS/)
        .and.not.include('sk-one-team');
    }
    expect(store.get('openai/research').reveal()).to.equal('sk-research');
  });

  it('refuses a reference asked for later that shares the variable of one already served', () => {
    const store = new EnvKeyStore(PREFIX, { KB_OPENAI_ML_OPS: 'sk-one-team' });
    expect(store.get('openai/ml-ops').reveal()).to.equal('sk-one-team');
    expect(() => store.get('openai/ML.OPS')).to.throw(KeyUnavailableError, /both read KB_OPENAI_ML_OPS/);
    expect(() => store.get('openai/ml-ops'), 'once shared, neither').to.throw(KeyUnavailableError);
  });

  it("refuses a reference whose variable is another key's field variable", async () => {
    const store = new EnvKeyStore(PREFIX, { KB_TWILIO_PROD__SID: 'AC1', KB_TWILIO_PROD__SECRET: 's' });
    await store.warm(['twilio/prod', 'twilio/prod/_sid']);
    expect(() => store.get('twilio/prod/_sid')).to.throw(KeyUnavailableError, /KB_TWILIO_PROD__SID/);
    expect(() => store.get('twilio/prod')).to.throw(KeyUnavailableError);
  });
});
