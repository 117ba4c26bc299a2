/**
 * How a key is put on the upstream request: the `inject:` shapes of a destination,
 * compiled once per runtime into header and query-parameter setters. The provider names
 * (openai, anthropic, azure-openai, google) are shorthands for the shapes their APIs
 * read.
 *
 *   bearer                             authorization: Bearer <key>
 *   { bearer: "${key.token}" }         the same, from a field
 *   { header: x-api-key, value: "Token ${key}" }   any header, text around the key
 *   { header: x-api-key, prefix: "Token " }        the same, spelt as prefix/suffix
 *   { headers: { x-id: "${key.id}", x-secret: "${key.secret}" } }   several at once
 *   { basic: { username: "${key.sid}", password: "${key.secret}" } } HTTP Basic, base64 here
 *   { query: key }  or  { query: { name: key, value: "${key}" } }    a query parameter
 *   { oauth2: { tokenUrl, clientId, … } }   a client-credentials access token, as Bearer
 */
import { parseTemplate, isTemplateProblem, renderTemplate, type Template } from './template.ts';
import type { Credential, Injection, OAuth2Settings } from '../model/check.ts';
import { KeyUnavailableError } from './store.ts';

export type { Injection };

const PROVIDERS = {
  openai: { bearer: '${key}' },
  anthropic: { header: 'x-api-key', value: '${key}' },
  'azure-openai': { header: 'api-key', value: '${key}' },
  google: { header: 'x-goog-api-key', value: '${key}' },
} as const;

export type TemplateName = keyof typeof PROVIDERS | 'bearer';
export const TEMPLATE_NAMES = ['openai', 'anthropic', 'azure-openai', 'google', 'bearer'] as const satisfies readonly TemplateName[];

/** `inject:` as the config schema accepts it. */
export type InjectSpec =
  | TemplateName
  | { readonly bearer: string }
  | { readonly header: string; readonly value?: string | undefined; readonly prefix?: string | undefined; readonly suffix?: string | undefined }
  | { readonly headers: Readonly<Record<string, string>> }
  | { readonly basic: { readonly username: string; readonly password: string } }
  | { readonly query: string | { readonly name: string; readonly value: string } }
  | { readonly oauth2: OAuth2Settings };

/**
 * The error format a destination's clients read: its declared `api`, else the one its
 * provider template implies (Azure OpenAI's SDKs are OpenAI's), else keybroker's own.
 */
export function denialShapeOf(api: 'openai' | 'anthropic' | 'mcp' | undefined, spec: InjectSpec): 'openai' | 'anthropic' | 'generic' {
  if (api === 'openai' || api === 'anthropic') return api;
  if (api === undefined && (spec === 'openai' || spec === 'azure-openai')) return 'openai';
  if (api === undefined && spec === 'anthropic') return 'anthropic';
  return 'generic';
}

export function injectionFor(spec: InjectSpec): Injection {
  if (typeof spec === 'string') return injectionFor(spec === 'bearer' ? { bearer: '${key}' } : PROVIDERS[spec]);
  if ('bearer' in spec) return headers([['authorization', `Bearer ${spec.bearer}`]]);
  if ('header' in spec) return headers([[spec.header, spec.value ?? `${spec.prefix ?? ''}\${key}${spec.suffix ?? ''}`]]);
  if ('headers' in spec) return headers(Object.entries(spec.headers));
  if ('basic' in spec) {
    const username = compile(spec.basic.username);
    const password = compile(spec.basic.password);
    const render = (secret: Credential) => `Basic ${Buffer.from(`${renderTemplate(username, secret)}:${renderTemplate(password, secret)}`).toString('base64')}`;
    return { headers: [{ name: 'authorization', render }], query: [] };
  }
  if ('query' in spec) {
    const { name, value } = typeof spec.query === 'string' ? { name: spec.query, value: '${key}' } : spec.query;
    const template = compile(value);
    return { headers: [], query: [{ name, render: (secret) => queryValue(name, renderTemplate(template, secret), secret) }] };
  }
  return { ...headers([['authorization', 'Bearer ${key}']]), oauth2: spec.oauth2 };
}

function headers(entries: ReadonlyArray<readonly [string, string]>): Injection {
  return {
    headers: entries.map(([name, text]) => {
      const template = compile(text);
      return { name, render: (secret: Credential) => renderTemplate(template, secret) };
    }),
    query: [],
  };
}

/**
 * Envoy (validate_mutations) accepts a query parameter value only if nothing in it would
 * need percent-encoding — ALPHA, DIGIT and "*-._" — and inserts it as given; an encoded
 * value ("%2B") is refused as well. A key with any other character cannot travel in a
 * query string through Envoy: unavailable, saying why, rather than an Envoy 500.
 */
export const QUERY_SAFE = /^[A-Za-z0-9*._-]*$/;

function queryValue(name: string, value: string, secret: Credential): string {
  if (!QUERY_SAFE.test(value)) {
    throw new KeyUnavailableError(
      secret.id,
      `its value has characters Envoy does not accept unencoded in the query parameter "${name}" (only letters, digits and "*-._"); inject it in a header instead`,
    );
  }
  return value;
}

/** The config schema has checked every template; a failure here is a bug. */
function compile(text: string): Template {
  const parsed = parseTemplate(text);
  if (isTemplateProblem(parsed)) throw new Error(`invalid template: ${parsed.problem}`);
  return parsed;
}
