/**
 * The shape of a Runtime (pipeline/runtime.ts builds one): a module of its own, so that
 * the pipeline (check.ts) can name it without importing the module that builds it, which
 * imports the pipeline's phase list.
 */
import type { Config } from '../config/schema.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import type { TeamIndex } from '../policy/teams.ts';
import type { KeyStore } from '../credentials/store.ts';
import type { CredentialSources } from '../credentials/obtain.ts';
import type { TokenVerifier } from '../identity/verifier.ts';
import type { Destination } from '../model/check.ts';
import type { PriceTable } from '../usage/prices.ts';

export interface Runtime {
  readonly config: Config;
  readonly trustDomains: ReadonlySet<string>;
  readonly destinations: ReadonlyMap<string, Destination>;
  readonly policy: CompiledPolicy;
  /** `policyCandidate`, compiled: evaluated beside the policy, never enforced. */
  readonly candidate: CompiledPolicy | undefined;
  /** `teamsOf(runtime.teams, identity)`: the teams an identity belongs to. */
  readonly teams: TeamIndex;
  readonly keys: KeyStore;
  /** What the credential phase reads: keys, OAuth2 tokens, teams, grants' own keys. */
  readonly credentials: CredentialSources;
  readonly tokens: TokenVerifier;
  /** The state of each phase that keeps its own (pipeline/check.ts `stateful`), by name. */
  readonly phaseStates: ReadonlyMap<string, unknown>;
  /** `prices:`, compiled: `priceFor(runtime.prices, destination, model)` (usage/prices.ts). */
  readonly prices: PriceTable;
}
