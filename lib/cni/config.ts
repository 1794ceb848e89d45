// Network configuration validation. Each plugin's config is a zod schema (plugins/<name>/schema.ts,
// the shared keys in lib/cni/config-schema.ts). A config is first given to zod's parser for that
// schema as compiled at build time (scripts/schemas.mjs, imported as `cni-ts:compiled/<name>`):
// plain code, so a valid config loads neither zod nor the schema. A config it rejects goes to the
// schema itself, loaded then: zod's first issue becomes a CNI error that names the key (code 7, or
// 2 for a value the plugin does not support).
import type * as z from 'zod/mini';
import { CniError, ErrorCode, preview } from './errors.ts';

/** zod's compiled parser's answer for "not valid: ask the runtime" (a registered symbol). */
const COMPILED_INVALID = Symbol.for('zod.compile.invalid');

export interface Validator<T> {
  /** zod's parser of the schema compiled at build time; undefined when running from source (tests). */
  readonly compiled: ((input: unknown) => unknown) | undefined;
  /** The schema (a lazy import: zod's runtime is loaded when this is called). */
  readonly schema: () => Promise<z.ZodMiniType<T>>;
}

/** Validate `raw`; the first problem becomes a CniError naming its key. */
export async function parseConfig<T>(validator: Validator<T>, raw: unknown): Promise<T> {
  if (validator.compiled) {
    const parsed = validator.compiled(raw);
    if (parsed !== COMPILED_INVALID) return parsed as T;
  }
  const r = (await validator.schema()).safeParse(raw);
  if (r.success) return r.data;
  throw issueError(r.error.issues[0]!, raw, 'config key', ErrorCode.InvalidConfig);
}

/** "a.b[2].c", as the keys appear in a config. */
export const keyPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/**
 * A zod issue as a CNI error: `invalid <what> "<key>": <what was expected> (got <value>)`. An
 * unsupported enumeration value is code 2 (UnsupportedField), anything else `code`.
 */
export function issueError(issue: z.core.$ZodIssue, raw: unknown, what: string, code: number): CniError {
  const key = keyPath(issue.path) || '(config)';
  const value = valueAt(raw, issue.path);
  const shown = value === undefined ? 'missing' : preview(value, 100);
  const errorCode = issue.code === 'invalid_value' ? ErrorCode.UnsupportedField : code;
  return new CniError(errorCode, `invalid ${what} "${key}": ${describeIssue(issue, value)} (got ${shown})`);
}

/** Config-level error naming a key and its value (for checks a schema does not express). */
export function configError(key: string, value: unknown, why: string, code: number = ErrorCode.InvalidConfig): CniError {
  return new CniError(code, `invalid config key "${key}" = ${preview(value, 300)}: ${why}`);
}

const typeName = (expected: string): string => (expected === 'int' ? 'an integer' : expected === 'number' ? 'a number' : expected);

/** What was expected, from the issue's own fields. */
export function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined ? `required ${typeName(issue.expected)}` : `expected ${typeName(issue.expected)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `must be ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}
