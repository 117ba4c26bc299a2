/**
 * The admin Status: what is in force, read from the running parts. Key ids and errors,
 * never key values; bundle key ids, never keys.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../lib/canonical-json.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import type { StatusResponse } from '../api/generated/keybroker/admin/v1/StatusResponse.ts';
import type { KeyStatus } from '../api/generated/keybroker/admin/v1/KeyStatus.ts';

export interface StatusParts {
  readonly runtime: Runtime;
  readonly configFile: string;
  readonly listeners: ReadonlyArray<{ readonly name: string; readonly address: string }>;
  readonly reloads: { readonly applied: number; readonly rejected: number };
  readonly audit: { readonly tracing: boolean; readonly exported: number; readonly dropped: number };
  readonly signingKeyId?: string | undefined;
}

/** A key lookup that takes longer than this is reported unavailable rather than awaited. */
const KEY_LOOKUP_MS = 2_000;

export async function collectStatus(parts: StatusParts, now = Date.now()): Promise<StatusResponse> {
  const { runtime } = parts;
  const refs = [...new Set([...runtime.destinations.values()].map((d) => d.keyRef))].sort();
  const keys = await Promise.all(refs.map((ref) => keyStatus(runtime, ref)));
  return {
    policy_version: runtime.policy.version,
    config_file: parts.configFile,
    config_sha256: createHash('sha256').update(canonicalJson(runtime.config)).digest('hex'),
    keys,
    bundles: runtime.tokens.bundles().map((b) => ({
      name: b.name,
      key_ids: [...b.loaded.kids].sort(),
      age_seconds: b.loaded.at ? (now - b.loaded.at) / 1000 : -1,
      refreshes: String(b.stats.refreshes),
      failures: String(b.stats.failures),
    })),
    listeners: parts.listeners.map((l) => ({ name: l.name, address: l.address, state: 'serving' })),
    audit: { tracing: parts.audit.tracing, exported: String(parts.audit.exported), dropped: String(parts.audit.dropped) },
    reloads: { applied: String(parts.reloads.applied), rejected: String(parts.reloads.rejected) },
    signing_key_id: parts.signingKeyId ?? '',
  };
}

async function keyStatus(runtime: Runtime, ref: string): Promise<KeyStatus> {
  const age = (runtime.keys.staleness?.() ?? 0) / 1000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const secret = await Promise.race([
      Promise.resolve().then(() => runtime.keys.get(ref)),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${KEY_LOOKUP_MS} ms`)), KEY_LOOKUP_MS))),
    ]);
    return { ref, key_id: secret.id, health: 'ok', error: '', age_seconds: age };
  } catch (error) {
    // KeyUnavailableError messages name the reference and the cause, never a value.
    return { ref, key_id: '', health: 'unavailable', error: (error as Error).message, age_seconds: age };
  } finally {
    clearTimeout(timer);
  }
}
