/**
 * Keeps a Check's objects in the young generation, where they die cheaply.
 *
 * V8 pretenures an allocation site (allocates its objects straight in the old
 * generation) once a scavenge finds nearly all (85%) of the site's recent objects alive,
 * and never revisits that decision. Under load it happened early, in every traced run
 * of keybroker and in some of the bare grpc-js baseline's (`--trace-pretenuring`), to
 * the sites of grpc-js's and Node's HTTP/2 per-call objects (the server call, its
 * stream, their write state). From then on each call's young objects (metadata, the
 * decoded request, the decision record, the response) hang off an old-generation call
 * object that is dead a millisecond later but which only a mark-compact can tell: every
 * scavenge keeps and copies them, the next promotes them. At 2,000 rps
 * (bench/gc-probe.ts) ~10 MB of ~50 MB survived each scavenge, which took 20–40 ms and
 * filled the old generation for a mark-compact every few seconds; without pretenuring
 * ~70 KB survive and a scavenge takes 1–4 ms.
 *
 * The flag only steers that GC heuristic (no allocation site is pretenured from here on);
 * it is set at run time because `serve` is started by `node src/cli/main.ts`, npm and
 * container entry points alike, none of which pass V8 flags.
 */
import { setFlagsFromString } from 'node:v8';

export function keepPerCheckObjectsYoung(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
