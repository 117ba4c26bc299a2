/**
 * keybroker's metrics. Per-decision instruments are fed by an Auditor (so the pipeline
 * knows nothing of metrics); the rest observe counters the parts already keep.
 */
import type { Meter } from '@opentelemetry/api';
import type { Auditor } from './auditor.ts';
import type { QueueStats } from './export-queue.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import type { ReloadStats } from '../config/watch.ts';

export interface MetricSources {
  readonly runtime: () => Runtime;
  readonly reloads: () => Readonly<ReloadStats>;
  readonly audit: () => Readonly<QueueStats> | undefined;
}

interface Counted<Names extends string> {
  count: number;
  readonly attributes: Record<Names, string>;
}

export function metricsAuditor(meter: Meter, sources: MetricSources): Auditor {
  // Counted here and reported at collection: an OTel counter's add() hashes its
  // attributes on every call, which is a measurable share of a Check.
  // By decision, then reason: no key string built per Check.
  const checks = { allow: new Map<string, Counted<'decision' | 'reason'>>(), deny: new Map<string, Counted<'decision' | 'reason'>>() };
  meter.createObservableCounter('keybroker.checks', { description: 'Check decisions, by decision and reason' }).addCallback((result) => {
    for (const reasons of [checks.allow, checks.deny]) for (const { count, attributes } of reasons.values()) result.observe(count, attributes);
  });
  const duration = meter.createHistogram('keybroker.check.duration.seconds', {
    unit: 's',
    description: 'Time to decide a Check, inside keybroker',
    advice: { explicitBucketBoundaries: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25] },
  });
  // Counted as the checks are, for the same reason; one series per rule that would differ.
  const disagreements = new Map<string, { count: number; attributes: { policy: string; rule: string } }>();
  meter
    .createObservableCounter('keybroker.shadow.disagreements', { description: 'Checks where shadow rules or the candidate policy would answer otherwise, by policy and rule' })
    .addCallback((result) => {
      for (const { count, attributes } of disagreements.values()) result.observe(count, attributes);
    });
  const disagree = (policy: string, rule: string) => {
    const key = `${policy}/${rule}`;
    const counted = disagreements.get(key);
    if (counted) counted.count++;
    else disagreements.set(key, { count: 1, attributes: { policy, rule } });
  };
  // keybroker_limited_total{limit,reason}: requests a limit refused, by limit id.
  const limited = new Map<string, { count: number; attributes: { limit: string; reason: string } }>();
  meter.createObservableCounter('keybroker.limited', { description: 'Requests refused by a rate limit or budget, by limit id and reason' }).addCallback((result) => {
    for (const { count, attributes } of limited.values()) result.observe(count, attributes);
  });
  const keyReads = meter.createCounter('keybroker.key.reads', { description: 'Key store reads for allowed decisions, by store and result' });

  meter.createObservableCounter('keybroker.bundle.refreshes', { description: 'JWT bundle refreshes, by result' }).addCallback((result) => {
    let ok = 0;
    let failed = 0;
    for (const bundle of sources.runtime().tokens.bundles()) {
      ok += bundle.stats.refreshes;
      failed += bundle.stats.failures;
    }
    result.observe(ok, { result: 'ok' });
    result.observe(failed, { result: 'failed' });
  });
  meter.createObservableGauge('keybroker.key.staleness.seconds', { description: 'Age of the oldest key value served from cache (remote key stores)' }).addCallback((result) => {
    const keys = sources.runtime().keys;
    if (keys.staleness) result.observe(keys.staleness() / 1000, { store: keys.kind });
  });
  // Replicas behind one Envoy must agree on policy: a replica whose reload failed (or that
  // was not reloaded) shows here with another version.
  // The SDK keeps reporting a series it saw once, so versions replaced read 0 (the last
  // few are remembered; older ones keep their last value, 0).
  const replaced: string[] = [];
  let inForce: string | undefined;
  meter.createObservableGauge('keybroker.policy.info', { description: 'The policy version in force (1) and those it replaced (0), by version' }).addCallback((result) => {
    const version = sources.runtime().policy.version;
    if (inForce !== undefined && inForce !== version) {
      replaced.push(inForce);
      if (replaced.length > 8) replaced.shift();
    }
    inForce = version;
    for (const old of replaced) if (old !== version) result.observe(0, { policy_version: old });
    result.observe(1, { policy_version: version });
  });
  meter.createObservableCounter('keybroker.config.reloads', { description: 'Configuration reloads, by result' }).addCallback((result) => {
    const stats = sources.reloads();
    result.observe(stats.applied, { result: 'applied' });
    result.observe(stats.rejected, { result: 'rejected' });
  });
  meter.createObservableCounter('keybroker.audit.records', { description: 'Audit spans, by result' }).addCallback((result) => {
    const stats = sources.audit();
    if (!stats) return;
    result.observe(stats.exported, { result: 'exported' });
    result.observe(stats.dropped, { result: 'dropped' });
  });

  // The histogram's attributes, one object per decision rather than one per Check.
  const byDecision = { allow: { decision: 'allow' }, deny: { decision: 'deny' } } as const;
  return {
    record(record) {
      const reasons = checks[record.decision];
      const counted = reasons.get(record.reason);
      if (counted) counted.count++;
      else reasons.set(record.reason, { count: 1, attributes: { decision: record.decision, reason: record.reason } });
      if (record.status === 429) {
        const limit = String(record.attributes?.['keybroker.limit.id'] ?? '');
        const key = `${limit}/${record.reason}`;
        const seen = limited.get(key);
        if (seen) seen.count++;
        else limited.set(key, { count: 1, attributes: { limit, reason: record.reason } });
      }
      duration.record(record.durationMs / 1000, byDecision[record.decision]);
      if (record.shadow) disagree('shadow', record.shadow.rule ?? '');
      if (record.candidate) disagree('candidate', record.candidate.rule ?? '');
      if (record.keyId) keyReads.add(1, { store: sources.runtime().keys.kind, result: 'ok' });
      else if (record.reason === 'key_unavailable') keyReads.add(1, { store: sources.runtime().keys.kind, result: 'failed' });
    },
  };
}
