import { expect } from 'chai';
import { inspect } from 'node:util';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Secret, checkKeyValue } from '../../src/credentials/secret.ts';
import { readKeyFile } from '../../src/credentials/file-store.ts';
import { EnvKeyStore, envVariableFor } from '../../src/credentials/env-store.ts';
import { CANARY_FIELD_SECRET, CANARY_KEY, CANARY_SID, expectNoCanary } from '../helpers/canary.ts';
import { Capture } from '../helpers/capture.ts';

describe('Secret', () => {
  const secret = new Secret('file', 'openai/prod', CANARY_KEY);

  it('reveals its value only through reveal()', () => {
    expect(secret.reveal()).to.equal(CANARY_KEY);
    for (const text of [String(secret), `${secret}`, JSON.stringify({ secret }), inspect(secret), inspect({ deep: { secret } })]) {
      expectNoCanary(text, 'a rendering of a Secret');
      expect(text).to.include('file:openai/prod#');
    }
  });

  it('stays redacted through pino', () => {
    const out = new Capture();
    pino(out).info({ secret, nested: { secret } }, 'logging a secret by mistake');
    expectNoCanary(out.text(), 'a pino line');
    expect(out.text()).to.include('[secret file:openai/prod#');
  });

  it('carries a fingerprint that changes when the key rotates', () => {
    expect(secret.id).to.match(/^file:openai\/prod#[0-9a-f]{12}$/);
    expect(new Secret('file', 'openai/prod', `${CANARY_KEY}-rotated`).id).to.not.equal(secret.id);
  });

  it('refuses values that could inject headers', () => {
    expect(checkKeyValue('sk-abc')).to.equal(undefined);
    expect(checkKeyValue('a\r\nx-evil: 1')).to.match(/printable ASCII/);
    expect(checkKeyValue('')).to.match(/non-empty/);
    expect(checkKeyValue(42)).to.match(/non-empty string/);
  });
});

describe('file key store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-keys-'));
  const write = (name: string, text: string, mode = 0o600) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    chmodSync(file, mode);
    return file;
  };

  it('reads key path → value', () => {
    const keys = readKeyFile(write('ok.yaml', `openai/prod: ${CANARY_KEY}\n`));
    expect(keys.get('openai/prod')?.reveal()).to.equal(CANARY_KEY);
  });
  it('refuses a file readable by group or others', () => {
    expect(() => readKeyFile(write('open.yaml', 'a: b\n', 0o640))).to.throw(/chmod 600/);
  });
  it('never quotes the file content in its errors', () => {
    for (const text of [`openai/prod: [${CANARY_KEY}\n`, `- ${CANARY_KEY}\n`, `openai/prod: "${CANARY_KEY}\\n"\n`, `bad key!: ${CANARY_KEY}\n`]) {
      // The assertion stays outside the try: a loader that skipped the bad entry must fail
      // here, not have its "did not throw" swallowed by the catch.
      let error: unknown;
      try {
        readKeyFile(write('bad.yaml', text));
      } catch (caught) {
        error = caught;
      }
      expect(error, `a broken key file loaded: ${JSON.stringify(text.replace(CANARY_KEY, '<key>'))}`).to.be.instanceOf(Error);
      expectNoCanary((error as Error).message, 'a key file error');
    }
  });
});

describe('env key store', () => {
  it('maps key paths to variables and reads them', () => {
    expect(envVariableFor('KEYBROKER_KEY_', 'openai/prod')).to.equal('KEYBROKER_KEY_OPENAI_PROD');
    const store = new EnvKeyStore('KB_', { KB_OPENAI_PROD: CANARY_KEY });
    expect(store.get('openai/prod').reveal()).to.equal(CANARY_KEY);
    expect(store.get('openai/prod').id).to.match(/^env:openai\/prod#/);
    expect(() => store.get('anthropic/prod')).to.throw(/KB_ANTHROPIC_PROD is not set/);
  });
});

describe('secrets with fields', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-fields-'));
  const fields = new Map([
    ['sid', CANARY_SID],
    ['secret', CANARY_FIELD_SECRET],
  ]);

  it('reveals a field only through field(), and select() is one object per field with its own id', () => {
    const secret = new Secret('file', 'twilio/prod', fields);
    expect(secret.field('sid')).to.equal(CANARY_SID);
    expect(() => secret.reveal()).to.throw(/has fields \(sid, secret\) and no single value/);
    expect(() => secret.field('nope')).to.throw(/no field "nope" \(its fields: sid, secret\)/);
    const sid = secret.select('sid');
    expect(secret.select('sid')).to.equal(sid);
    expect(sid.reveal()).to.equal(CANARY_SID);
    expect(sid.id).to.match(/^file:twilio\/prod\[sid\]#[0-9a-f]{12}$/);
    expect(sid.id.endsWith(secret.id.slice(secret.id.indexOf('#')))).to.equal(true);
    for (const text of [String(secret), JSON.stringify({ secret, sid }), inspect({ secret, sid })]) expectNoCanary(text, 'a rendering of a secret with fields');
  });

  it('reads a mapping from the key file, checking every field', () => {
    const file = join(dir, 'keys.yaml');
    writeFileSync(file, `twilio/prod: { sid: ${CANARY_SID}, secret: ${CANARY_FIELD_SECRET} }\n`);
    chmodSync(file, 0o600);
    expect(readKeyFile(file).get('twilio/prod')?.select('secret').reveal()).to.equal(CANARY_FIELD_SECRET);
    writeFileSync(file, `twilio/prod: { sid: "${CANARY_SID}\\n", secret: x }\n`);
    expect(() => readKeyFile(file)).to.throw(/the value of "twilio\/prod" field "sid" may contain only printable ASCII/);
    writeFileSync(file, `twilio/prod: {}\n`);
    expect(() => readKeyFile(file)).to.throw(/has no fields/);
  });

  it('reads fields from <VARIABLE>__<FIELD> in the environment', () => {
    const store = new EnvKeyStore('KB_', { KB_TWILIO_PROD__SID: CANARY_SID, KB_TWILIO_PROD__SECRET: CANARY_FIELD_SECRET, KB_BOTH: 'x', KB_BOTH__A: 'y' });
    expect(store.get('twilio/prod').field('sid')).to.equal(CANARY_SID);
    expect(store.get('twilio/prod').field('secret')).to.equal(CANARY_FIELD_SECRET);
    expect(() => store.get('both')).to.throw(/KB_BOTH and KB_BOTH__\* are both set/);
  });

  it('keeps every string field of a Vault-style record, the configured one as the value', () => {
    const secret = new Secret('vault', 'secret/twilio/prod', new Map([['value', CANARY_KEY], ...fields]), { version: '3', primary: 'value' });
    expect(secret.reveal()).to.equal(CANARY_KEY);
    expect(secret.field('sid')).to.equal(CANARY_SID);
    expect(secret.id).to.equal('vault:secret/twilio/prod#3');
    const withoutPrimary = new Secret('vault', 'secret/x', fields, { version: '1', primary: 'value' });
    expect(() => withoutPrimary.reveal()).to.throw(/no field "value" \(its fields: sid, secret\)/);
  });
});
