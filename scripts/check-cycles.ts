/**
 * Fails when the modules under src/ import each other in a cycle. Import cycles make load
 * order matter (a module sees another half-initialised) and tangle layers that should
 * depend one way. Type-only imports are reported separately with --types: they vanish at
 * run time, but still tie the layers together.
 *
 *   node scripts/check-cycles.ts [--types] [DIR]
 *
 * The TypeScript compiler's parser (already a dependency) reads the imports; a dedicated
 * tool would add a dependency tree to resolve `.ts` specifiers this project writes anyway.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative imports and re-exports of one file, resolved; type-only ones only if asked. */
function importsOf(file: string, withTypes: boolean): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const statement of source.statements) {
    let specifier: ts.Expression | undefined;
    let typeOnly = false;
    if (ts.isImportDeclaration(statement)) {
      specifier = statement.moduleSpecifier;
      const clause = statement.importClause;
      typeOnly = Boolean(
        clause &&
          (clause.isTypeOnly ||
            (!clause.name && clause.namedBindings && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly))),
      );
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier) {
      specifier = statement.moduleSpecifier;
      typeOnly = statement.isTypeOnly;
    }
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
    if (typeOnly && !withTypes) continue;
    out.push(resolve(dirname(file), specifier.text));
  }
  return out;
}

/** Strongly connected components with more than one module (or a self-import): the cycles. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    indices.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, indices.get(next)!));
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) cycles.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return cycles;
}

const args = process.argv.slice(2);
const withTypes = args.includes('--types');
const root = resolve(args.find((a) => !a.startsWith('--')) ?? 'src');
const graph = new Map(sourceFiles(root).map((file) => [file, importsOf(file, withTypes)] as const));
const cycles = findCycles(graph);
for (const cycle of cycles) console.error(`import cycle: ${cycle.map((f) => relative(process.cwd(), f)).join(' ↔ ')}`);
console.log(`${graph.size} modules under ${relative(process.cwd(), root) || '.'}, ${cycles.length} import cycle(s)${withTypes ? ' (type-only imports included)' : ''}`);
process.exitCode = cycles.length === 0 ? 0 : 1;
