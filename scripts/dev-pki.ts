/**
 * A development PKI made with the openssl CLI: a CA per trust domain and leaf
 * certificates with the SANs needed. Tests make a fresh one per run; docker-compose makes
 * one at start. None of it is ever committed.
 *
 *   node scripts/dev-pki.ts OUT_DIR [TRUST_DOMAIN]   (the demo set: CA, gateway, agents)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Issued {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

export interface CertificateAuthority extends Issued {
  issue(name: string, sans: { uris?: string[]; dns?: string[]; ips?: string[] }): Issued;
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

export function createCa(name: string, dir = mkdtempSync(join(tmpdir(), 'keybroker-pki-'))): CertificateAuthority {
  const keyFile = join(dir, `${name}-ca.key`);
  const certFile = join(dir, `${name}-ca.crt`);
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/O=keybroker-test/CN=${name} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  let serial = 1;
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    issue(leaf, sans) {
      const leafKey = join(dir, `${leaf}.key`);
      const leafCsr = join(dir, `${leaf}.csr`);
      const leafCert = join(dir, `${leaf}.crt`);
      const ext = join(dir, `${leaf}.ext`);
      const altNames = [...(sans.uris ?? []).map((u) => `URI:${u}`), ...(sans.dns ?? []).map((d) => `DNS:${d}`), ...(sans.ips ?? []).map((i) => `IP:${i}`)];
      writeFileSync(
        ext,
        [
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement',
          'extendedKeyUsage=serverAuth,clientAuth',
          ...(altNames.length ? [`subjectAltName=${altNames.join(',')}`] : []),
        ].join('\n'),
      );
      openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', leafKey, '-out', leafCsr, '-subj', `/O=keybroker-test/CN=${leaf}`]);
      openssl(dir, ['x509', '-req', '-in', leafCsr, '-CA', certFile, '-CAkey', keyFile, '-set_serial', String(serial++), '-days', '1', '-out', leafCert, '-extfile', ext]);
      return { certFile: leafCert, keyFile: leafKey, cert: readFileSync(leafCert, 'utf8'), key: readFileSync(leafKey, 'utf8') };
    },
  };
}

/** The demo set that docker-compose and the README use. */
export function createDemoPki(dir: string, trustDomain = 'demo.local'): void {
  mkdirSync(dir, { recursive: true });
  const ca = createCa(trustDomain, dir);
  ca.issue('gateway', { uris: [`spiffe://${trustDomain}/envoy/egress`], dns: ['envoy', 'gateway.local', 'localhost'], ips: ['127.0.0.1'] });
  ca.issue('research', { uris: [`spiffe://${trustDomain}/agent/research`] });
  ca.issue('intern', { uris: [`spiffe://${trustDomain}/agent/intern`] });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [dir, trustDomain] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node scripts/dev-pki.ts OUT_DIR [TRUST_DOMAIN]');
    process.exit(2);
  }
  createDemoPki(dir, trustDomain);
  console.error(`development PKI written to ${dir}`);
}
