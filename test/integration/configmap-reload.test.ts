/**
 * A Kubernetes ConfigMap volume updates by writing a new timestamped directory and
 * swapping the `..data` symlink; the file keybroker was given is a symlink through it.
 * keybroker's file watcher must see that swap as a change, like any edit.
 */
import { expect } from 'chai';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { baseConfig, TEST_KEYS } from '../helpers/broker.ts';
import { startKeybroker, type Keybroker } from '../../src/server/start.ts';
import { Capture } from '../helpers/capture.ts';
import { poll } from '../helpers/poll.ts';

describe('a configuration mounted from a Kubernetes ConfigMap', () => {
  let broker: Keybroker;
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-configmap-'));
  const keysDir = mkdtempSync(join(tmpdir(), 'keybroker-configmap-keys-'));
  const keys = join(keysDir, 'keys.yaml');

  /** What kubelet does: a new data directory, then an atomic swap of `..data`. */
  const publish = (generation: string, config: Record<string, unknown>) => {
    mkdirSync(join(dir, generation));
    writeFileSync(join(dir, generation, 'keybroker.yaml'), stringify({ ...config, listen: `unix://${join(keysDir, 'authz.sock')}`, keys: { store: 'file', file: keys } }));
    symlinkSync(generation, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };

  before(async () => {
    writeFileSync(keys, stringify(TEST_KEYS), { mode: 0o600 });
    chmodSync(keys, 0o600);
    publish('..2026_11_28_22_00_00.1', baseConfig());
    symlinkSync('..data/keybroker.yaml', join(dir, 'keybroker.yaml'));
    broker = await startKeybroker({ configFile: join(dir, 'keybroker.yaml'), logDestination: new Capture(), watchIntervalMs: 50 });
  });
  after(() => broker.shutdown({ graceMs: 1000 }));

  it('applies the new policy when ..data is swapped, and keeps it', async () => {
    const before = broker.runtime().policy.version;
    const config = baseConfig();
    (config['policy'] as unknown[]).push({ id: 'extra', identities: ['spiffe://example.org/ns/x/*'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models'] });
    publish('..2026_11_28_22_05_00.2', config);
    await poll(
      () => {
        if (broker.runtime().policy.version === before) throw new Error('the swap was not seen');
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(broker.watcher.stats.applied).to.equal(1);
    expect(broker.watcher.stats.rejected).to.equal(0);
  });
});
