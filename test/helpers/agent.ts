/** An agent calling the gateway over HTTPS, with or without its X.509-SVID. */
import { request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { Issued } from '../../scripts/dev-pki.ts';
import { parseUriSans } from '../../src/identity/x509-svid.ts';

export interface AgentResponse {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
  /** Body chunks in arrival order (for streams). */
  readonly chunks: readonly string[];
}

export interface AgentCall {
  port: number;
  gatewayCa: string;
  svid?: Issued;
  method?: string;
  path: string;
  host?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Authenticate the gateway by its SPIFFE ID (an SVID has no DNS name) instead of its host name. */
  gatewaySpiffeId?: string;
}

export function agentRequest(call: AgentCall): Promise<AgentResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: call.port,
        servername: 'gateway.local',
        method: call.method ?? 'POST',
        path: call.path,
        ca: call.gatewayCa,
        ...(call.svid ? { cert: call.svid.cert, key: call.svid.key } : {}),
        headers: { host: call.host ?? `gateway.local:${call.port}`, 'content-type': 'application/json', ...call.headers },
        agent: false,
        timeout: 10_000,
        ...(call.gatewaySpiffeId
          ? {
              checkServerIdentity: (_host: string, cert: PeerCertificate) =>
                parseUriSans(cert.subjectaltname ?? '').join() === call.gatewaySpiffeId ? undefined : new Error(`the gateway is not ${call.gatewaySpiffeId}`),
            }
          : {}),
      },
      (res) => {
        const chunks: string[] = [];
        res.setEncoding('utf8');
        res.on('data', (c: string) => chunks.push(c));
        res.on('end', () => {
          const headers: Array<[string, string]> = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
          resolve({ status: res.statusCode ?? 0, headers, body: chunks.join(''), chunks });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('agent request timed out')));
    req.on('error', reject);
    req.end(call.body ?? '{"model":"gpt-4o","messages":[]}');
  });
}
