/** Metrics on the loopback Prometheus endpoint, scraped over HTTP. */
import { expect } from 'chai';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { freePort } from '../helpers/envoy.ts';
import { expectNoCanary } from '../helpers/canary.ts';

describe('metrics', () => {
  let t: TestBroker;
  let url: string;

  before(async () => {
    const port = await freePort();
    t = await startTestBroker({ config: { ...baseConfig(), telemetry: { metrics: { prometheus: { port } } } } });
    url = `http://127.0.0.1:${port}/metrics`;
  });
  after(() => t.stop());

  const scrape = async () => (await fetch(url)).text();
  /** The value of `name{labels…}`, matching the given labels whatever others the series has. */
  const value = (text: string, series: string): number => {
    const [, name, labels = ''] = /^([^{]+)\{?([^}]*)\}?$/.exec(series) ?? [];
    const wanted = labels.split(',').filter(Boolean);
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('counts checks by decision and reason, times them, and counts key reads', async () => {
    await t.check(envoyCheckRequest());
    await t.check(envoyCheckRequest());
    await t.check(envoyCheckRequest({ principal: 'spiffe://example.org/ns/other/x' }));
    await t.check(envoyCheckRequest({ destination: 'tools', host: 'tools.example.org', path: '/x' }));
    const text = await scrape();
    expect(value(text, 'keybroker_checks_total{decision="allow",reason="allowed"}')).to.equal(2);
    expect(value(text, 'keybroker_checks_total{decision="deny",reason="no_matching_grant"}')).to.equal(1);
    expect(value(text, 'keybroker_key_reads_total{store="file",result="ok"}')).to.equal(2);
    expect(value(text, 'keybroker_key_reads_total{store="file",result="failed"}')).to.equal(1);
    expect(value(text, 'keybroker_check_duration_seconds_count{decision="allow"}')).to.equal(2);
    expectNoCanary(text, 'the metrics');
  });

  it('counts configuration reloads, applied and rejected', async () => {
    t.writeConfig({ ...baseConfig(), telemetry: { metrics: { prometheus: { port: Number(new URL(url).port) } } } });
    await t.broker.watcher.reload();
    t.writeConfig({ ...baseConfig(), policy: [{ id: 'x', identities: ['not a spiffe id'], destinations: ['openai'], methods: ['GET'], paths: ['/'] }] });
    await t.broker.watcher.reload();
    const text = await scrape();
    expect(value(text, 'keybroker_config_reloads_total{result="applied"}')).to.equal(1);
    expect(value(text, 'keybroker_config_reloads_total{result="rejected"}')).to.equal(1);
  });

  it('shows the policy version in force, so a replica left on an old policy stands out', async () => {
    const version = () => /^keybroker_policy_info\{[^}]*policy_version="([^"]+)"[^}]*\} 1$/m.exec(text)?.[1];
    let text = await scrape();
    const before = version();
    expect(before).to.equal(t.broker.runtime().policy.version);
    const config: Record<string, unknown> = { ...baseConfig(), telemetry: { metrics: { prometheus: { port: Number(new URL(url).port) } } } };
    (config['policy'] as unknown[]).push({ id: 'extra', identities: ['spiffe://example.org/ns/x/*'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models'] });
    t.writeConfig(config);
    await t.broker.watcher.reload();
    text = await scrape();
    expect(version()).to.equal(t.broker.runtime().policy.version).and.not.equal(before);
    expect(text.match(/^keybroker_policy_info\{.*\} 1$/gm)).to.have.length(1);
    expect(text).to.include(`policy_version="${before}"} 0`);
  });

  it('refuses a metrics endpoint off loopback', async () => {
    const { parseConfigText } = await import('../../src/config/load.ts');
    const { stringify } = await import('yaml');
    expect(() => parseConfigText(stringify({ ...baseConfig(), telemetry: { metrics: { prometheus: { host: '0.0.0.0', port: 9464 } } } }), 'x.yaml', '/tmp')).to.throw(/loopback only/);
  });
});
