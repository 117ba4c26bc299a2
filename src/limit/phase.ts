/**
 * The limit phase: rate limits and budgets, reserved once policy has allowed. Nothing
 * yet: it holds the phase's place in the pipeline.
 */
import type { Phase } from '../model/phase.ts';

export const limitPhase: Phase<undefined> = {
  name: 'limit',
  run() {},
};
