/**
 * The encoded metadata fields response.ts keeps per value: each is a few dozen bytes, but
 * Buffer.allocUnsafe hands out slices of a shared 8 KiB pool, and a kept slice would keep
 * its whole slab alive (about 8.8 MiB for 1,024 identities and people).
 */
import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { toCheckResponse } from '../../src/envoy/response.ts';
import { Denial } from '../../src/lib/denial.ts';
import type { DecisionRecord } from '../../src/model/check.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('encoded metadata kept per value', () => {
  it('keeps about what it encodes, not a pool slab per value (1,024 identities and people)', () => {
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 1024; i++) {
      // What a Check and grpc-js take from the same pool between two new identities.
      for (let j = 0; j < 8; j++) Buffer.allocUnsafe(1024);
      const record = {
        decisionId: `d-${i}`,
        decision: 'deny',
        reason: 'identity_missing',
        status: 401,
        identity: `spiffe://example.org/ns/prod/sa/agent-${i}`,
        person: `user-${i}@example.org`,
      } as DecisionRecord;
      toCheckResponse({ allow: false, record, denial: new Denial('identity_missing') });
    }
    gc();
    gc();
    const kept = process.memoryUsage().arrayBuffers - before;
    // 2 × 1,024 encodings of under 100 bytes each: well under 1 MiB, unpooled.
    expect(kept).to.be.below(1024 * 1024);
  });
});
