/** The route phase: the destination Envoy's route names, and the path the upstream will see. */
import type { Destination } from '../model/check.ts';
import type { Phase } from '../model/phase.ts';
import { resolveDestination } from './resolve.ts';

export const routePhase: Phase<ReadonlyMap<string, Destination>> = {
  name: 'route',
  run(ctx, destinations) {
    const { destination, upstreamPath } = resolveDestination(ctx.facts, destinations);
    ctx.destination = destination;
    ctx.upstreamPath = upstreamPath;
    ctx.record.destination = destination.name;
    ctx.record.upstream = destination.upstream;
    ctx.record.classification = destination.classification;
  },
};
