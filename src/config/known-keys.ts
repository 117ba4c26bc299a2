/**
 * The keys a strict object in the schema accepts at a given path, so an unknown key can
 * be answered with "did you mean". Walks the zod schema's own definition.
 */
import type { z } from 'zod';

interface Def {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly left?: z.ZodType;
  readonly right?: z.ZodType;
  readonly getter?: () => z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The object schemas `schema` may be, looking through wrappers, pipes and unions. */
function objectsOf(schema: z.ZodType, depth = 0): z.ZodType[] {
  if (depth > 20) return [];
  const def = defOf(schema);
  switch (def.type) {
    case 'object':
      return [schema];
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return def.innerType ? objectsOf(def.innerType, depth + 1) : [];
    case 'pipe':
      return def.in ? objectsOf(def.in, depth + 1) : [];
    case 'lazy':
      return def.getter ? objectsOf(def.getter(), depth + 1) : [];
    case 'union':
      return (def.options ?? []).flatMap((o) => objectsOf(o, depth + 1));
    case 'intersection':
      return [def.left, def.right].flatMap((o) => (o ? objectsOf(o, depth + 1) : []));
    default:
      return [];
  }
}

/** What sits under one path segment of `schema`: a property, an array element, a record value. */
function childrenOf(schema: z.ZodType, segment: PropertyKey, depth = 0): z.ZodType[] {
  if (depth > 20) return [];
  const def = defOf(schema);
  switch (def.type) {
    case 'object': {
      const child = def.shape?.[String(segment)];
      return child ? [child] : [];
    }
    case 'array':
      return def.element ? [def.element] : [];
    case 'record':
      return def.valueType ? [def.valueType] : [];
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return def.innerType ? childrenOf(def.innerType, segment, depth + 1) : [];
    case 'pipe':
      return def.in ? childrenOf(def.in, segment, depth + 1) : [];
    case 'lazy':
      return def.getter ? childrenOf(def.getter(), segment, depth + 1) : [];
    case 'union':
      return (def.options ?? []).flatMap((o) => childrenOf(o, segment, depth + 1));
    case 'intersection':
      return [def.left, def.right].flatMap((o) => (o ? childrenOf(o, segment, depth + 1) : []));
    default:
      return [];
  }
}

/** Every key an object at `path` (the path of the object, not of the unknown key) accepts. */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let schemas = [schema];
  for (const segment of path) schemas = schemas.flatMap((s) => childrenOf(s, segment));
  const keys = new Set<string>();
  for (const object of schemas.flatMap((s) => objectsOf(s))) for (const key of Object.keys(defOf(object).shape ?? {})) keys.add(key);
  return [...keys];
}
