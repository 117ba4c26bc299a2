/**
 * How a key is put on the upstream request. Each provider reads its key from its own
 * header; the template turns a key into that one header.
 */
import type { Injection } from '../model/check.ts';

export type { Injection };

const TEMPLATES = {
  openai: { header: 'authorization', prefix: 'Bearer ', suffix: '' },
  anthropic: { header: 'x-api-key', prefix: '', suffix: '' },
  'azure-openai': { header: 'api-key', prefix: '', suffix: '' },
  google: { header: 'x-goog-api-key', prefix: '', suffix: '' },
} as const satisfies Record<string, Injection>;

export type TemplateName = keyof typeof TEMPLATES;
export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as [TemplateName, ...TemplateName[]];

/** A template name, or a generic `{header, value}` where `value` holds `${key}` once. */
export function injectionFor(spec: TemplateName | { header: string; value: string }): Injection {
  if (typeof spec === 'string') return TEMPLATES[spec];
  const [prefix = '', suffix = ''] = spec.value.split('${key}');
  return { header: spec.header, prefix, suffix };
}
