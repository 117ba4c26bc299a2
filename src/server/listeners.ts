/**
 * Every address keybroker listens on, checked together before anything binds: Check's
 * (invariant 2), the admin API's and the token exchange's, each by its own rule.
 */
import type { Config } from '../config/schema.ts';
import { parseAdminListen, sameAddress } from '../admin/listen.ts';
import { ListenError, parseListen, type ListenAddress } from './listen.ts';
import { parseTokenListen, type TokenListen } from '../tokens/server.ts';

export interface Listeners {
  readonly check: ListenAddress;
  readonly admin?: ListenAddress | undefined;
  readonly token?: TokenListen | undefined;
}

export function parseListeners(config: Config): Listeners {
  const check = parseListen(config.listen);
  const admin = config.admin ? parseAdminListen(config.admin, check) : undefined;
  const token = config.gatewayTokens ? parseTokenListen(config.gatewayTokens.listen) : undefined;
  if (token && [check, admin].some((other) => other && sameAddress(token.address, other))) {
    throw new ListenError('gatewayTokens.listen: agents exchange tokens on their own address, not the Check or admin listener');
  }
  return { check, admin, token };
}
