/**
 * Teams: named sets of identity patterns (`teams:` in the configuration), matched as
 * policy identities are — exact SPIFFE IDs, or prefixes ending in `/*` that match by path
 * segment. Compiled once per runtime into an index so that a Check's lookup costs a few
 * map reads whatever the number of teams.
 */
import { forEachAncestor } from './evaluate.ts';

export interface TeamIndex {
  readonly exact: ReadonlyMap<string, readonly string[]>;
  /** Keyed by the pattern without its trailing `*`, so ending in "/". */
  readonly prefix: ReadonlyMap<string, readonly string[]>;
  readonly names: readonly string[];
}

const NONE: readonly string[] = Object.freeze([]);

export function compileTeams(teams: Readonly<Record<string, readonly string[]>>): TeamIndex {
  const exact = new Map<string, string[]>();
  const prefix = new Map<string, string[]>();
  for (const [team, patterns] of Object.entries(teams)) {
    for (const pattern of patterns) {
      const [map, key] = pattern.endsWith('/*') ? [prefix, pattern.slice(0, -1)] : [exact, pattern];
      const members = map.get(key);
      if (!members) map.set(key, [team]);
      else if (!members.includes(team)) members.push(team);
    }
  }
  return { exact, prefix, names: Object.keys(teams).sort() };
}

/** The teams `identity` belongs to, sorted by name; empty when none. */
export function teamsOf(index: TeamIndex, identity: string): readonly string[] {
  if (index.names.length === 0) return NONE;
  const found = new Set<string>(index.exact.get(identity));
  forEachAncestor(identity, (ancestor) => {
    const teams = index.prefix.get(ancestor);
    if (teams) for (const team of teams) found.add(team);
  });
  return found.size === 0 ? NONE : [...found].sort();
}
