/**
 * Validates custom resources offline against the openAPIV3Schema of their
 * CustomResourceDefinitions, with ajv: Envoy Gateway's CRDs and the Gateway API CRDs it
 * ships, as scripts/install-tools.sh takes them from the Envoy Gateway release's Go module
 * into .tools/crds/. Unknown fields are refused, as `kubectl apply` refuses them (strict
 * field validation), so a misspelt field fails here rather than being pruned in the
 * cluster. Not evaluated: the CEL rules (`x-kubernetes-validations`) and string formats.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import AjvModule, { type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './process.ts';

export const ENVOY_GATEWAY_CRDS = join(ROOT, '.tools/crds/envoy-gateway-v1.9.1');

interface Crd {
  readonly kind: string;
  readonly spec: {
    readonly group: string;
    readonly names: { readonly kind: string };
    readonly versions: ReadonlyArray<{ readonly name: string; readonly served: boolean; readonly schema?: { readonly openAPIV3Schema: Schema } }>;
  };
}
type Schema = { [keyword: string]: unknown };

/** `apiVersion` + kind → a validator, for every served version of every CRD in `dir`; each compiled when first asked for. */
export function loadCrdValidators(dir: string = ENVOY_GATEWAY_CRDS): CrdValidators {
  if (!existsSync(dir)) throw new Error(`the Envoy Gateway CRDs are not installed at ${dir}: run bash scripts/install-tools.sh gateway_crds`);
  const ajv = new AjvModule.default({ strict: false, allErrors: true, validateFormats: false });
  const schemas = new Map<string, Schema>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as Crd | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      for (const version of crd.spec.versions) {
        if (version.served && version.schema) schemas.set(`${crd.spec.group}/${version.name} ${crd.spec.names.kind}`, version.schema.openAPIV3Schema);
      }
    }
  }
  const compiled = new Map<string, ValidateFunction>();
  return {
    get(key) {
      const schema = schemas.get(key);
      if (!schema) return undefined;
      let validate = compiled.get(key);
      if (!validate) compiled.set(key, (validate = ajv.compile(closed(schema))));
      return validate;
    },
  };
}

export interface CrdValidators {
  get(apiVersionAndKind: string): ValidateFunction | undefined;
}

/** The schema with every object that lists its properties closed to others, unless it keeps unknown fields. */
function closed(schema: Schema): Schema {
  const out: Schema = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword === 'properties' || keyword === 'patternProperties') {
      out[keyword] = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([name, sub]) => [name, closed(sub)]));
    } else if (keyword === 'items' || keyword === 'additionalProperties' || keyword === 'not') {
      out[keyword] = typeof value === 'object' && value !== null ? closed(value as Schema) : value;
    } else if (keyword === 'allOf' || keyword === 'anyOf' || keyword === 'oneOf') {
      out[keyword] = (value as Schema[]).map(closed);
    } else {
      out[keyword] = value;
    }
  }
  if (out['properties'] && out['additionalProperties'] === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) out['additionalProperties'] = false;
  return out;
}

/** Throws with each schema error's path when `manifest` does not validate. */
export function validateCustomResource(validators: CrdValidators, manifest: { apiVersion: string; kind: string }): void {
  const validate = validators.get(`${manifest.apiVersion} ${manifest.kind}`);
  if (!validate) throw new Error(`no CRD schema for ${manifest.apiVersion} ${manifest.kind}`);
  if (validate(manifest)) return;
  throw new Error(
    (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : ''}`).join('; '),
  );
}
