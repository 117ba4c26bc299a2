/**
 * Where keybroker listens, and the rule that keeps Check a private oracle (invariant 2):
 * a Unix socket or loopback, or any other address only behind mTLS with a caller allowlist.
 */
import { isIP } from 'node:net';
import type { Config } from '../config/schema.ts';
import { isLoopback } from '../lib/loopback.ts';

export type TlsSettings = NonNullable<Exclude<Config['listen'], string>['tls']>;

export type ListenAddress =
  | { readonly kind: 'unix'; readonly path: string; readonly tls?: undefined }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly loopback: boolean; readonly tls?: TlsSettings };

export class ListenError extends Error {
  override readonly name = 'ListenError';
  readonly code = 'ERR_LISTEN';
}

export function parseListen(listen: Config['listen']): ListenAddress {
  const address = typeof listen === 'string' ? listen : listen.address;
  const tls = typeof listen === 'string' ? undefined : listen.tls;

  if (address.startsWith('unix:')) {
    const path = address.replace(/^unix:(\/\/)?/, '');
    if (!path.startsWith('/')) throw new ListenError(`listen: "${address}" must name an absolute socket path, e.g. unix:///run/keybroker/authz.sock`);
    if (tls) throw new ListenError('listen: tls applies to TCP addresses; a Unix socket is protected by its file mode');
    return { kind: 'unix', path };
  }

  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  if (!match) throw new ListenError(`listen: "${address}" is neither unix:///path nor host:port (IPv6 as [::1]:port)`);
  const host = (match[1] ?? match[2]) as string;
  const port = Number(match[3]);
  if (port > 65535) throw new ListenError(`listen: port ${port} is out of range`);
  const loopback = isLoopback(host);

  if (!loopback && !tls) {
    throw new ListenError(
      `listen: refusing to serve Check on non-loopback address "${address}" without mTLS. ` +
        'Check returns provider keys, so only Envoy may call it: listen on a Unix socket or 127.0.0.1, ' +
        "or add listen.tls with cert, key, clientCa and allowedCallers (Envoy's SPIFFE ID).",
    );
  }
  return { kind: 'tcp', host, port, loopback, tls };
}

/** The demo's trust domain: its JWT signing key ships with keybroker, so nothing it guards is real. */
const DEMO_TRUST_DOMAIN = 'demo.local';

/**
 * Why an accepted address is still unsafe, or undefined. Loopback TCP without mTLS is
 * reachable by every process in the network namespace — in Kubernetes, every container of
 * the pod, the agent's included — and any of them could ask Check for a key under any
 * identity. Tolerated for the demo (whose only trust domain is the demo's); anywhere else
 * `serve` says so loudly.
 */
export function exposureWarning(address: ListenAddress, trustDomains: readonly string[]): string | undefined {
  if (address.kind !== 'tcp' || address.tls || !address.loopback) return undefined;
  if (trustDomains.length > 0 && trustDomains.every((td) => td === DEMO_TRUST_DOMAIN)) return undefined;
  return (
    `Check is served on loopback TCP (${grpcTarget(address)}) without mTLS: any process sharing this network ` +
    'namespace (another container in the same pod, an agent) can call Check under any identity and receive provider keys. ' +
    'Listen on a Unix socket in a directory only Envoy can reach (unix:///run/keybroker/authz.sock), or add listen.tls with allowedCallers.'
  );
}

/** The target string grpc-js binds to. */
export function grpcTarget(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix://${address.path}`;
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
