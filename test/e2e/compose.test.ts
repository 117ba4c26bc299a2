/**
 * docker-compose.yml is for users and is not run here (no Docker engine): it is
 * validated with Debian's docker-compose, and its wiring checked against the repo.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT, runCli } from '../helpers/process.ts';

const composeFile = join(ROOT, 'docker-compose.yml');

describe('docker-compose.yml', () => {
  it('passes docker-compose config -q', () => {
    execFileSync('docker-compose', ['-f', composeFile, 'config', '-q'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  });

  it('is rejected by the same check when broken (the check can fail)', () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'compose-')), 'docker-compose.yml');
    writeFileSync(broken, readFileSync(composeFile, 'utf8').replace('    image: envoyproxy/envoy', '    imagez: envoyproxy/envoy'));
    const result = spawnSync('docker-compose', ['-f', broken, 'config', '-q'], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status).to.not.equal(0);
    expect(result.stderr).to.include('imagez');
  });

  it('has Envoy, keybroker, Vault, SPIRE server and agent, Jaeger and a demo agent', () => {
    const services = Object.keys((parse(readFileSync(composeFile, 'utf8')) as { services: object }).services);
    expect(services).to.include.members(['envoy', 'keybroker', 'vault', 'spire-server', 'spire-agent', 'jaeger', 'demo-agent']);
  });

  it('serves keybroker a configuration that validates', () => {
    const result = runCli(['validate', '-c', join(ROOT, 'examples/compose/keybroker.yaml')]);
    expect(result.code, result.stderr).to.equal(0);
  });
});
