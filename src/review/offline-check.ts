/**
 * The real Check pipeline, run on a described request without the network: the identity
 * is taken as proven (by the proof the description names), the person as verified, and
 * the key is resolved to its reference only — no store, token endpoint or bundle URL is
 * contacted. Every other phase (route, inspect, authorize with shadow rules and the
 * candidate, limit) is the one Check runs. `keybroker test` and the access-review tests
 * decide through here.
 */
import { pino } from 'pino';
import type { Config } from '../config/schema.ts';
import { createCheck, PHASES, type Step } from '../pipeline/check.ts';
import { buildRuntime, releaseRuntime, type Runtime } from '../pipeline/runtime.ts';
import type { DecisionRecord, Proof, RequestFacts } from '../model/check.ts';
import { need } from '../model/phase.ts';
import { keysNotRead } from './keys-not-read.ts';
import { wholeJsonBodyHeaders } from '../inspect/read-body.ts';

export interface DescribedRequest {
  readonly identity: string;
  /** How the identity is taken to be proven (default `x509-svid`). */
  readonly proof?: Proof | undefined;
  readonly destination: string;
  readonly method: string;
  /** The path after the route prefix, as policy paths are written (`/v1/chat/completions`). */
  readonly path: string;
  readonly person?: { readonly sub: string; readonly groups: readonly string[] } | undefined;
  /** A request body for rules that read it: bytes as sent, or a value sent as JSON. */
  readonly body?: unknown;
}

export interface OfflineCheck {
  readonly runtime: Runtime;
  decide(request: DescribedRequest): Promise<DecisionRecord>;
  close(): void;
}

export function offlineCheck(config: Config): OfflineCheck {
  const runtime = buildRuntime(config, { keys: keysNotRead });
  const phases = PHASES.flatMap((phase): Step[] => {
    if (phase.name === 'authenticate') return [phase, ASSERTED];
    if (phase.name === 'credential') return [KEY_ID_ONLY];
    return [phase];
  });
  return {
    runtime,
    async decide(request) {
      let record: DecisionRecord | undefined;
      const check = createCheck({ runtime: () => runtime, audit: { record: (r) => (record = r) }, log: pino({ level: 'silent' }), phases });
      await check(factsFor(request, runtime));
      return record as DecisionRecord;
    },
    close: () => releaseRuntime(runtime),
  };
}

/** The request as Envoy would present it: the route's destination, its prefix, its host. */
function factsFor(request: DescribedRequest, runtime: Runtime): RequestFacts & { described: DescribedRequest } {
  const destination = runtime.destinations.get(request.destination);
  const body = request.body === undefined ? undefined : request.body instanceof Uint8Array ? Buffer.from(request.body) : Buffer.from(JSON.stringify(request.body));
  return {
    decisionId: 'offline',
    method: request.method.toUpperCase(),
    authority: destination?.upstream ?? '',
    path: (destination?.routePrefix ?? '') + request.path,
    headers: body ? wholeJsonBodyHeaders(body) : new Map(),
    sourcePrincipal: request.identity,
    sourceCertificate: '',
    contextExtensions: new Map([['destination', request.destination]]),
    ...(body ? { body } : {}),
    described: request,
  };
}

/** After authenticate: the proof and the person the description names, taken as verified. */
const ASSERTED: Step = {
  name: 'asserted identity',
  run(ctx) {
    const { proof, person } = (ctx.facts as ReturnType<typeof factsFor>).described;
    const principal = need(ctx.principal, 'the principal');
    if (proof) {
      ctx.principal = { ...principal, proof };
      ctx.record.proof = proof;
    }
    if (person) {
      ctx.person = { sub: person.sub, groups: person.groups };
      ctx.record.person = person.sub;
    }
  },
};

/** Instead of credential: the key the grant selects, by reference, never read. */
const KEY_ID_ONLY: Step = {
  name: 'credential (reference only)',
  run(ctx, runtime) {
    const destination = need(ctx.destination, 'the destination');
    const ref = runtime.credentials.ruleKeys.get(need(ctx.policy, 'the policy decision').rule) ?? destination.key;
    const id = `${runtime.config.keys.store}:${ref.text}#not-read`;
    const none = (): never => {
      throw new Error('an offline check has no key');
    };
    ctx.secret = { id, reveal: none, field: none };
    ctx.injected = { headers: [], query: [] };
    ctx.record.keyId = id;
  },
};
