/**
 * The inspect phase: for a destination that declares its api, the request body's facts
 * (model, tool, …), read lazily — parsed only if a rule asks, at most once — and recorded
 * in the decision when they were read.
 */
import { need, type Phase } from '../model/phase.ts';
import { Inspection } from './inspect.ts';

export const inspectPhase: Phase<undefined> = {
  name: 'inspect',
  run(ctx) {
    const api = need(ctx.destination, 'the destination').api;
    if (!api) return;
    ctx.body = new Inspection(ctx.facts, api, need(ctx.upstreamPath, 'the upstream path'), ctx.record);
  },
};
