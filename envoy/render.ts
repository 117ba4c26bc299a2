/**
 * Fills the `{{NAME}}` placeholders of an Envoy config template. Every placeholder must
 * be given and every given value used, so a renamed placeholder can't slip through.
 *
 *   node envoy/render.ts envoy/egress-gateway.yaml LISTEN_PORT=10000 … > envoy.yaml
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function renderTemplate(template: string, values: Readonly<Record<string, string | number>>): string {
  const used = new Set<string>();
  const missing = new Set<string>();
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) {
      missing.add(name);
      return '';
    }
    used.add(name);
    return String(value);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (missing.size > 0) throw new Error(`template placeholders without a value: ${[...missing].join(', ')}`);
  if (unused.length > 0) throw new Error(`values for no placeholder: ${unused.join(', ')}`);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, ...assignments] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node envoy/render.ts TEMPLATE NAME=VALUE…');
    process.exit(2);
  }
  const values = Object.fromEntries(assignments.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  process.stdout.write(renderTemplate(readFileSync(file, 'utf8'), values));
}
