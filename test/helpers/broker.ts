/**
 * Starts a real keybroker (in this process, on a real socket) from a config written to a
 * temporary directory, with its logs captured; and a real gRPC client for it.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials as grpcCredentials, Metadata, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { authorizationClientConstructor } from '../../src/envoy/proto.ts';
import { startKeybroker, type Keybroker, type StartOptions } from '../../src/server/start.ts';
import type { CheckResponseMessage } from '../../src/envoy/response.ts';
import type { CheckRequestMessage } from './envoy-request.ts';
import { Capture } from './capture.ts';
import { CANARY_ANTHROPIC_KEY, CANARY_KEY } from './canary.ts';

export const TEST_KEYS = { 'openai/prod': CANARY_KEY, 'anthropic/prod': CANARY_ANTHROPIC_KEY };

/** The configuration most tests use; override parts per test. */
export function baseConfig(): Record<string, unknown> {
  return {
    trust: { 'example.org': {}, 'partner.example': {} },
    keys: { store: 'file', file: './keys.yaml' },
    destinations: {
      openai: {
        upstream: 'api.openai.com',
        authorities: ['gateway.local'],
        routePrefix: '/openai',
        inject: 'openai',
        key: 'openai/prod',
        classification: 'confidential',
      },
      anthropic: { upstream: 'api.anthropic.com', authorities: ['gateway.local'], routePrefix: '/anthropic', inject: 'anthropic', key: 'anthropic/prod' },
      tools: { upstream: 'tools.example.org', inject: { header: 'x-tool-token', value: 'Token ${key}' }, key: 'tools/search' },
    },
    policy: [
      {
        id: 'research-openai',
        identities: ['spiffe://example.org/ns/research/*'],
        destinations: ['openai'],
        methods: ['POST'],
        paths: ['/v1/chat/completions', '/v1/embeddings'],
      },
      { id: 'research-models', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models/*'] },
      { id: 'block-quarantined', effect: 'deny', identities: ['spiffe://example.org/ns/research/quarantined'], destinations: ['openai'] },
      { id: 'writer-anthropic', identities: ['spiffe://example.org/ns/writing/writer'], destinations: ['anthropic'], methods: ['POST'], paths: ['/v1/messages'] },
      { id: 'research-tools', identities: ['spiffe://example.org/ns/research/*'], destinations: ['tools'], methods: ['*'], paths: ['/*'] },
    ],
  };
}

export interface TestBroker {
  readonly broker: Keybroker;
  readonly dir: string;
  readonly configFile: string;
  readonly logs: Capture;
  check(request: CheckRequestMessage, options?: CallOptions): Promise<CheckResponseMessage>;
  /** Writes a new config (for reload tests). */
  writeConfig(config: Record<string, unknown>): void;
  stop(): Promise<void>;
}

export interface TestBrokerOptions {
  config?: Record<string, unknown>;
  keys?: Record<string, string> | string;
  listen?: string | Record<string, unknown>;
  /** Client channel credentials (TLS tests); insecure by default. */
  clientCredentials?: ChannelCredentials;
  clientOptions?: Record<string, unknown>;
  dir?: string;
  /** How often the config (and the policy files it includes) is polled; default 0: reload() only. */
  watchIntervalMs?: number;
  /** More start options (usage sinks, the environment…). */
  start?: Omit<StartOptions, 'configFile' | 'logDestination' | 'watchIntervalMs'>;
}

export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'keybroker-test-'));
  const configFile = join(dir, 'keybroker.yaml');
  const keysFile = join(dir, 'keys.yaml');
  writeFileSync(keysFile, typeof options.keys === 'string' ? options.keys : stringify(options.keys ?? TEST_KEYS), { mode: 0o600 });
  chmodSync(keysFile, 0o600);
  const listen = options.listen ?? `unix://${join(dir, 'authz.sock')}`;
  const writeConfig = (config: Record<string, unknown>) => writeFileSync(configFile, stringify({ listen, log: { level: 'debug' }, ...config }));
  writeConfig(options.config ?? baseConfig());

  const logs = new Capture();
  const broker = await startKeybroker({ ...options.start, configFile, logDestination: logs, watchIntervalMs: options.watchIntervalMs ?? 0 });
  const client = authorizationClient(broker.address, options.clientCredentials, options.clientOptions);
  return {
    broker,
    dir,
    configFile,
    logs,
    check: (request, callOptions) => callCheck(client, request, callOptions),
    writeConfig,
    async stop() {
      client.close();
      await broker.shutdown({ graceMs: 2000 });
    },
  };
}

export function authorizationClient(address: string, channelCredentials?: ChannelCredentials, options: Record<string, unknown> = {}): Client {
  const Ctor = authorizationClientConstructor();
  return new Ctor(address, channelCredentials ?? grpcCredentials.createInsecure(), options);
}

/** Per call: gRPC metadata (Envoy's trace context, say) and the deadline (default 5 s). */
export interface CallOptions {
  readonly metadata?: Record<string, string>;
  readonly deadlineMs?: number;
}

export function callCheck(client: Client, request: CheckRequestMessage, options: CallOptions = {}): Promise<CheckResponseMessage> {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (r: unknown, m: Metadata, o: object, cb: (e: ServiceError | null, r: CheckResponseMessage) => void) => void>)['Check']!(
      request,
      metadata,
      { deadline: Date.now() + (options.deadlineMs ?? 5000) },
      (error, response) => (error ? reject(error) : resolve(response)),
    );
  });
}
