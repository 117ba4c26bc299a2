/**
 * deploy/kubernetes: every manifest validated offline against the Kubernetes OpenAPI
 * schemas (and Istio's CRD schemas) that the `kubernetes-models` packages carry, or the
 * Envoy Gateway and Gateway API CRD schemas (test/helpers/crd-schemas.ts); the Envoy
 * config it renders passes `envoy --mode validate`; keybroker's config passes
 * `keybroker validate`; the kustomizations name files that exist.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { ROOT, runCli } from '../helpers/process.ts';
import { validateEnvoyConfig } from '../helpers/envoy.ts';
import { renderTemplate } from '../../envoy/render.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { kubernetesEnvoyValues, SPIRE_TEMPLATE } from '../../deploy/kubernetes/render-envoy.ts';
import { loadCrdValidators, validateCustomResource } from '../helpers/crd-schemas.ts';

const DEPLOY = join(ROOT, 'deploy/kubernetes');
/** keybroker's own configuration files, kustomize's, and the rendered Envoy config. */
const NOT_MANIFESTS = new Set(['kustomization.yaml', 'keybroker-config.yaml', 'envoy.yaml']);
const KEYBROKER_CONFIGS = ['base/keybroker-config.yaml', 'istio/keybroker-config.yaml', 'envoy-gateway/keybroker-config.yaml'];
/** API groups whose schemas are CRDs that Envoy Gateway ships. */
const CRD_GROUPS = /^(gateway\.envoyproxy\.io|gateway\.networking\.k8s\.io)\//;
let crdValidators: ReturnType<typeof loadCrdValidators> | undefined;

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: { name?: string };
}

/** The model class for an apiVersion/kind, from the schema packages (core, then Istio). */
async function modelFor(apiVersion: string, kind: string): Promise<{ new (data: unknown): { validate(): void } }> {
  const specifier = apiVersion.includes('.istio.io/') ? `@kubernetes-models/istio/${apiVersion}/${kind}` : `kubernetes-models/${apiVersion}/${kind}`;
  let module: Record<string, { new (data: unknown): { validate(): void } }>;
  try {
    module = (await import(specifier)) as typeof module;
  } catch {
    throw new Error(`no schema for ${apiVersion} ${kind}: add a validator before shipping it`);
  }
  const model = module[kind];
  if (!model) throw new Error(`no schema for ${apiVersion} ${kind}: add a validator before shipping it`);
  return model;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) && !NOT_MANIFESTS.has(entry.name) ? [path] : [];
  });
}

async function validateManifest(manifest: Manifest, where: string): Promise<void> {
  try {
    if (CRD_GROUPS.test(manifest.apiVersion)) validateCustomResource((crdValidators ??= loadCrdValidators()), manifest);
    else new (await modelFor(manifest.apiVersion, manifest.kind))(manifest).validate();
  } catch (error) {
    throw new Error(`${where}: ${manifest.kind} ${manifest.metadata?.name ?? ''}: ${(error as Error).message}`);
  }
}

describe('deploy/kubernetes', function () {
  this.timeout(60_000);
  const files = yamlFiles(DEPLOY);

  it('has the base, the agents policy and the mesh overlays', () => {
    const names = files.map((f) => relative(DEPLOY, f));
    expect(names).to.include.members([
      'base/deployment.yaml',
      'base/poddisruptionbudget.yaml',
      'base/networkpolicy.yaml',
      'agents/egress-only-through-gateway.yaml',
      'istio/mesh-config.yaml',
      'istio/authorization.yaml',
      'istio/routes.yaml',
      'envoy-gateway/gateway.yaml',
      'envoy-gateway/providers.yaml',
      'envoy-gateway/authorization.yaml',
      'envoy-gateway/keybroker.yaml',
    ]);
  });

  for (const file of files) {
    it(`${relative(DEPLOY, file)} validates against its schemas`, async () => {
      const docs = parseAllDocuments(readFileSync(file, 'utf8'));
      expect(docs.length).to.be.greaterThan(0);
      for (const doc of docs) {
        expect(doc.errors, `${file}: YAML errors`).to.have.length(0);
        await validateManifest(doc.toJS() as Manifest, relative(ROOT, file));
      }
    });
  }

  it('rejects a manifest that breaks its schema (the check can fail)', async () => {
    const deployment = parse(readFileSync(join(DEPLOY, 'base/deployment.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
    deployment['spec']!['replicas'] = 'three';
    await validateManifest(deployment as unknown as Manifest, 'mutated').then(
      () => expect.fail('a string replica count was accepted'),
      (error: Error) => expect(error.message).to.match(/replicas/),
    );
  });

  it('rejects a custom resource with a misspelt field or a wrong type (the CRD check can fail)', async () => {
    const [policy] = parseAllDocuments(readFileSync(join(DEPLOY, 'envoy-gateway/authorization.yaml'), 'utf8'))
      .map((d) => d.toJS() as Manifest & { spec: { extAuth: Record<string, unknown> } })
      .filter((m) => m.kind === 'SecurityPolicy');
    const misspelt = structuredClone(policy!);
    misspelt.spec.extAuth['failopen'] = false;
    await validateManifest(misspelt, 'mutated').then(
      () => expect.fail('an unknown field was accepted'),
      (error: Error) => expect(error.message).to.match(/\/spec\/extAuth must NOT have additional properties \(failopen\)/),
    );
    const wrongType = structuredClone(policy!);
    wrongType.spec.extAuth['statusOnError'] = 299;
    await validateManifest(wrongType, 'mutated').then(
      () => expect.fail('a status outside the enum was accepted'),
      (error: Error) => expect(error.message).to.match(/statusOnError/),
    );
  });

  it('Envoy Gateway: every provider route is decided by keybroker, fail closed, with its destination in the context', () => {
    interface Route {
      kind: string;
      metadata: { name: string };
      spec: { hostnames: string[]; rules: Array<{ matches: Array<{ path: { value: string } }> }> };
    }
    interface Policy {
      kind: string;
      spec: {
        targetRefs: Array<{ kind: string; name: string }>;
        extAuth: { failOpen: boolean; grpc: { backendRefs: Array<{ name: string }> }; contextExtensions: Array<{ name: string; value: string }> };
      };
    }
    const load = <T>(file: string) => parseAllDocuments(readFileSync(join(DEPLOY, 'envoy-gateway', file), 'utf8')).map((d) => d.toJS() as T);
    const routes = load<Route>('providers.yaml').filter((m) => m.kind === 'HTTPRoute');
    const policies = load<Policy>('authorization.yaml').filter((m) => m.kind === 'SecurityPolicy');
    const config = parse(readFileSync(join(DEPLOY, 'envoy-gateway/keybroker-config.yaml'), 'utf8')) as {
      destinations: Record<string, { routePrefix: string; authorities: string[] }>;
      listen: { tls: { allowedCallers: string[] } };
    };
    expect(routes.length).to.be.greaterThan(0);
    for (const route of routes) {
      const name = route.metadata.name;
      const policy = policies.find((p) => p.spec.targetRefs.some((t) => t.kind === 'HTTPRoute' && t.name === name));
      expect(policy, `a SecurityPolicy for HTTPRoute ${name}`).to.not.equal(undefined);
      const extAuth = policy!.spec.extAuth;
      expect(extAuth.failOpen, `${name}: fail closed`).to.equal(false);
      expect(extAuth.grpc.backendRefs.map((r) => r.name)).to.deep.equal(['keybroker']);
      const destination = extAuth.contextExtensions.find((c) => c.name === 'destination')?.value ?? '';
      const configured = config.destinations[destination];
      expect(configured, `${name}: destination "${destination}" in keybroker-config.yaml`).to.not.equal(undefined);
      // keybroker sees the request before the route's rewrite: its prefix and host as sent.
      expect(route.spec.rules[0]!.matches[0]!.path.value).to.equal(configured!.routePrefix);
      for (const host of route.spec.hostnames) expect(configured!.authorities).to.include(host);
    }
    expect(config.listen.tls.allowedCallers).to.have.length(1);
  });

  it('kustomizations name only files that exist', () => {
    for (const file of readdirSync(DEPLOY, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('kustomization.yaml'))) {
      const kustomization = parse(readFileSync(join(DEPLOY, file), 'utf8')) as { resources?: string[]; configMapGenerator?: Array<{ files?: string[] }> };
      for (const resource of kustomization.resources ?? []) expect(existsSync(join(DEPLOY, dirname(file), resource)), `${file}: ${resource}`).to.equal(true);
      // A generator's entry is FILE or KEY=FILE.
      for (const generated of (kustomization.configMapGenerator ?? []).flatMap((g) => g.files ?? []).map((f) => f.slice(f.indexOf('=') + 1))) {
        // envoy.yaml is rendered by render-envoy.ts, not checked in.
        if (generated !== 'envoy.yaml') expect(existsSync(join(DEPLOY, dirname(file), generated)), `${file}: ${generated}`).to.equal(true);
      }
    }
  });

  for (const file of KEYBROKER_CONFIGS) {
    it(`serves keybroker a configuration that validates: ${file}`, () => {
      // The files it names are mounted in the pod; here they are stand-ins in a temp dir.
      const dir = mkdtempSync(join(tmpdir(), 'keybroker-deploy-'));
      try {
        const ca = createCa('vault', dir).certFile;
        const config = join(dir, 'keybroker.yaml');
        const server = createCa('keybroker', dir);
        const tls = server.issue('keybroker', { dns: ['keybroker.keybroker.svc'] });
        writeFileSync(
          config,
          readFileSync(join(DEPLOY, file), 'utf8')
            .replace('/etc/keybroker/vault-ca/ca.crt', ca)
            .replace('/etc/keybroker/tls/tls.crt', tls.certFile)
            .replace('/etc/keybroker/tls/tls.key', tls.keyFile)
            .replace('/etc/keybroker/tls/ca.crt', server.certFile),
        );
        const result = runCli(['validate', '-c', config]);
        expect(result.code, result.stdout + result.stderr).to.equal(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('renders an Envoy configuration that Envoy accepts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-deploy-'));
    try {
      const file = join(dir, 'envoy.yaml');
      // /dev/stdout in the pod; the test's child process has a socket there, which Envoy cannot open.
      writeFileSync(file, renderTemplate(readFileSync(SPIRE_TEMPLATE, 'utf8'), { ...kubernetesEnvoyValues('example.org'), ACCESS_LOG: join(dir, 'access.log') }));
      expect(validateEnvoyConfig(file)).to.match(/configuration .* OK/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
