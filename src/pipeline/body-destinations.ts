/**
 * Which destinations' Checks read the request body: those whose policy rules (enforced,
 * shadow or in the candidate) have body conditions, and those a limit estimates from the
 * body (model scopes, token or cost budgets). Envoy must send the body on exactly their
 * routes (`with_request_body`): elsewhere it is bytes carried for nothing, and where it is
 * missing such Checks are denied `body_unreadable`.
 */
import type { Config } from '../config/schema.ts';
import { compileBodyConditions } from '../policy/body-conditions.ts';

export function destinationsReadingBody(config: Config): Set<string> {
  const reading = new Set<string>();
  for (const rule of [...config.policy, ...(config.policyCandidate ?? [])]) {
    if (compileBodyConditions(rule, rule.effect)) for (const d of rule.destinations) reading.add(d);
  }
  for (const limit of config.limits?.rules ?? []) {
    if (!(limit.models || limit.tokens || limit.costUsd)) continue;
    for (const d of limit.destinations ?? Object.keys(config.destinations)) if (config.destinations[d]?.api) reading.add(d);
  }
  return reading;
}
