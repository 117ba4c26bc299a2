/**
 * Value templates: the text an injection puts on the request, with `${key}` (the key,
 * or the field the key reference names) and `${key.<field>}` (one field of a secret with
 * fields) in it. Parsed at load — an unknown `${…}` is a configuration error rather than
 * text sent upstream — and rendered once per (destination, key version).
 */
import type { Credential } from '../model/check.ts';

export type TemplatePart = string | { readonly field: string | undefined };
export type Template = readonly TemplatePart[];

const PLACEHOLDER = /\$\{([^}]*)\}/g;
const FIELD_PLACEHOLDER = /^key\.([A-Za-z0-9_-]{1,64})$/;
/** What a header value may carry around the key: printable ASCII and spaces. */
const LITERAL = /^[\x20-\x7e]*$/;

/** The parsed template, or what is wrong with it. */
export function parseTemplate(text: string): Template | { problem: string } {
  if (!LITERAL.test(text)) return { problem: 'may contain only printable ASCII characters and spaces' };
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? '';
    const field = FIELD_PLACEHOLDER.exec(name)?.[1];
    if (name !== 'key' && field === undefined) return { problem: `"\${${name.slice(0, 40)}}" is not a placeholder: use \${key} or \${key.<field>}` };
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push({ field });
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  if (parts.some((p) => typeof p === 'string' && p.includes('${'))) return { problem: 'has an unterminated "${"' };
  return parts;
}

export function isTemplateProblem(parsed: Template | { problem: string }): parsed is { problem: string } {
  return !Array.isArray(parsed);
}

export function hasPlaceholder(template: Template): boolean {
  return template.some((part) => typeof part !== 'string');
}

/** Throws KeyUnavailableError when the secret lacks a value or field the template needs. */
export function renderTemplate(template: Template, secret: Credential): string {
  let out = '';
  for (const part of template) {
    out += typeof part === 'string' ? part : part.field === undefined ? secret.reveal() : secret.field(part.field);
  }
  return out;
}
