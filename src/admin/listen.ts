/**
 * Where the admin API listens. It can reload keybroker and read its policy, so it is a
 * Unix socket (mode 0600: keybroker's own user) or TCP with mTLS and an allowlist of
 * admin SPIFFE IDs — never loopback TCP without TLS, which any local process (an agent
 * in the same pod) could reach, and never the Check listener's address.
 */
import type { Config } from '../config/schema.ts';
import { ListenError, parseListen, type ListenAddress } from '../server/listen.ts';

export function parseAdminListen(admin: NonNullable<Config['admin']>, check: ListenAddress): ListenAddress {
  const address = typeof admin.listen === 'string' ? admin.listen : admin.listen.address;
  const tls = typeof admin.listen === 'string' ? undefined : admin.listen.tls;
  if (!address.startsWith('unix:') && !tls) {
    throw new ListenError(
      `admin.listen: "${address}" needs tls (cert, key, clientCa, allowedCallers with the admins' SPIFFE IDs); ` +
        'the admin API listens on a Unix socket (e.g. unix:///run/keybroker/admin.sock) or behind mTLS, never on plain TCP, loopback included',
    );
  }
  let parsed: ListenAddress;
  try {
    parsed = parseListen(admin.listen);
  } catch (error) {
    throw new ListenError(`admin.${(error as Error).message}`);
  }
  if (sameAddress(parsed, check)) throw new ListenError(`admin.listen: "${address}" is the Check listener; the admin API needs its own address`);
  return parsed;
}

/** Whether two listen addresses would collide. */
export function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  if (a.kind === 'unix') return b.kind === 'unix' && a.path === b.path;
  if (b.kind === 'unix') return false;
  return a.port === b.port && a.port !== 0 && (a.host === b.host || a.host === '0.0.0.0' || b.host === '0.0.0.0' || a.host === '::' || b.host === '::');
}
