/**
 * A client for TokenService/Exchange, for agents on Node.js (and the tests): trade a
 * Kubernetes service-account token, or the X.509-SVID of the TLS connection, for a
 * gateway token to send where an SDK puts its API key.
 */
import { Metadata, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { tokenService } from '../api/services.ts';
import type { ExchangeRequest } from '../api/generated/keybroker/token/v1/ExchangeRequest.ts';
import type { ExchangeResponse__Output } from '../api/generated/keybroker/token/v1/ExchangeResponse.ts';
import { JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from './exchange.ts';

export interface TokenClient {
  exchange(request?: ExchangeRequest): Promise<ExchangeResponse__Output>;
  /** Exchange a service-account token (RFC 8693 subject_token). */
  exchangeServiceAccountToken(token: string, options?: Omit<ExchangeRequest, 'subject_token' | 'subject_token_type'>): Promise<ExchangeResponse__Output>;
  close(): void;
}

export function connectTokenService(address: string, channel: ChannelCredentials, options: Record<string, string> = {}, deadlineMs = 10_000): TokenClient {
  const Ctor = tokenService();
  const client = new Ctor(address, channel, options) as unknown as Client & {
    Exchange(r: ExchangeRequest, m: Metadata, o: object, cb: (e: ServiceError | null, r?: ExchangeResponse__Output) => void): void;
  };
  const exchange = (request: ExchangeRequest = {}) =>
    new Promise<ExchangeResponse__Output>((resolve, reject) =>
      client.Exchange({ grant_type: TOKEN_EXCHANGE_GRANT, ...request }, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) =>
        error || !response ? reject(error ?? new Error('no response')) : resolve(response),
      ),
    );
  return {
    exchange,
    exchangeServiceAccountToken: (token, options = {}) => exchange({ ...options, subject_token: token, subject_token_type: JWT_TOKEN_TYPE }),
    close: () => client.close(),
  };
}
