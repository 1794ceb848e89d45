// A small JSON-schema validator for network configs, with the subset of zod/mini's API that the
// config modules use (`z.looseObject`, `z.optional`, `z.int().check(z.minimum(…))`, …) and zod's
// issue shape (code, path, expected, values, minimum, maximum).
//
// Why not zod: building the plugins' schemas with zod/mini cost ~3 ms of every standalone plugin
// start (its object schemas do a lot of work when constructed, and it compiles a parser with
// `new Function` on first use) — more than half of what our own code costs at start-up, for a job
// this file does in a few dozen lines. Validation stops at the first problem, visiting keys in
// declaration order: the same issue zod reports first, which is the only one we report.

export type Issue =
  | { code: 'invalid_type'; path: PropertyKey[]; expected: string; input: unknown; message?: string }
  | { code: 'invalid_value'; path: PropertyKey[]; values: readonly unknown[]; input: unknown; message?: string }
  | { code: 'too_small'; path: PropertyKey[]; minimum: number; inclusive: boolean; input: unknown; message?: string }
  | { code: 'too_big'; path: PropertyKey[]; maximum: number; inclusive: boolean; input: unknown; message?: string };

/** Thrown inside a parse and turned into `{ success: false }` at the top. */
class Invalid {
  constructor(readonly issue: Issue) {}
}

export type SafeParse<T> = { success: true; data: T } | { success: false; error: { issues: Issue[] } };

export interface Schema<T = unknown> {
  /** Type carrier only (never set). */
  readonly _output?: T;
  /** Validate `input` found at `path`; throws Invalid. */
  readonly run: (input: unknown, path: PropertyKey[]) => T;
  safeParse(input: unknown): SafeParse<T>;
}

export type Output<S> = S extends Schema<infer T> ? T : never;
export type { Output as infer };

function schema<T>(run: (input: unknown, path: PropertyKey[]) => T): Schema<T> {
  return {
    run,
    safeParse(input) {
      try {
        return { success: true, data: run(input, []) };
      } catch (e) {
        if (e instanceof Invalid) return { success: false, error: { issues: [e.issue] } };
        throw e;
      }
    },
  };
}

const invalidType = (expected: string, input: unknown, path: PropertyKey[]): Invalid =>
  new Invalid({ code: 'invalid_type', path, expected, input });

function primitive<T>(expected: string, accepts: (v: unknown) => boolean): () => Schema<T> {
  const s = schema<T>((v, path) => {
    if (!accepts(v)) throw invalidType(expected, v, path);
    return v as T;
  });
  return () => s;
}

export const string = primitive<string>('string', (v) => typeof v === 'string');
export const boolean = primitive<boolean>('boolean', (v) => typeof v === 'boolean');
export const unknown = primitive<unknown>('unknown', () => true);

export interface IntSchema extends Schema<number> {
  check(...checks: Array<(n: number, path: PropertyKey[]) => void>): Schema<number>;
}

/** A safe integer (zod's z.int()). */
export function int(): IntSchema {
  const base = (v: unknown, path: PropertyKey[]): number => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw invalidType('int', v, path);
    if (v > Number.MAX_SAFE_INTEGER)
      throw new Invalid({ code: 'too_big', path, maximum: Number.MAX_SAFE_INTEGER, inclusive: true, input: v });
    if (v < Number.MIN_SAFE_INTEGER)
      throw new Invalid({ code: 'too_small', path, minimum: Number.MIN_SAFE_INTEGER, inclusive: true, input: v });
    return v;
  };
  return {
    ...schema(base),
    check: (...checks) =>
      schema((v, path) => {
        const n = base(v, path);
        for (const c of checks) c(n, path);
        return n;
      }),
  };
}

export const minimum = (min: number) => (n: number, path: PropertyKey[]) => {
  if (n < min) throw new Invalid({ code: 'too_small', path, minimum: min, inclusive: true, input: n });
};
export const maximum = (max: number) => (n: number, path: PropertyKey[]) => {
  if (n > max) throw new Invalid({ code: 'too_big', path, maximum: max, inclusive: true, input: n });
};

/** One of the given strings; anything else is an `invalid_value` issue (→ CNI code 2). */
function enumOf<const V extends readonly string[]>(values: V): Schema<V[number]> {
  return schema((v, path) => {
    if (!values.includes(v as string)) throw new Invalid({ code: 'invalid_value', path, values, input: v });
    return v as V[number];
  });
}

export { enumOf as enum };

export function optional<T>(inner: Schema<T>): Schema<T | undefined> {
  return schema((v, path) => (v === undefined ? undefined : inner.run(v, path)));
}

/** Absent or null (Go decodes JSON null to the zero value). */
export function nullish<T>(inner: Schema<T>): Schema<T | null | undefined> {
  return schema((v, path) => (v === undefined || v === null ? v : inner.run(v, path)));
}

export function array<T>(item: Schema<T>): Schema<T[]> {
  return schema((v, path) => {
    if (!Array.isArray(v)) throw invalidType('array', v, path);
    return v.map((x, i) => item.run(x, [...path, i]));
  });
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function record<V>(_key: Schema<string>, value: Schema<V>): Schema<Record<string, V>> {
  return schema((v, path) => {
    if (!isPlainObject(v)) throw invalidType('record', v, path);
    const out: Record<string, V> = {};
    for (const [k, x] of Object.entries(v)) out[k] = value.run(x, [...path, k]);
    return out;
  });
}

type Shape = Record<string, Schema<unknown>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OptionalKeys<S extends Shape> = { [K in keyof S]: undefined extends Output<S[K]> ? K : never }[keyof S];
type Infer<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Output<S[K]> } & { [K in OptionalKeys<S>]?: Output<S[K]> }
>;

function objectOf<S extends Shape, T>(shape: S, keepUnknownKeys: boolean): Schema<T> {
  const keys = Object.keys(shape);
  return schema((v, path) => {
    if (!isPlainObject(v)) throw invalidType('object', v, path);
    const out: Record<string, unknown> = keepUnknownKeys ? { ...v } : {};
    for (const k of keys) {
      const parsed = shape[k]!.run(v[k], [...path, k]);
      if (parsed !== undefined || k in v) out[k] = parsed;
    }
    return out as T;
  });
}

/** An object; keys outside the shape are dropped. */
export const object = <S extends Shape>(shape: S): Schema<Infer<S>> => objectOf(shape, false);
/** An object; keys outside the shape are kept as they are (runtimes add keys of their own). */
export const looseObject = <S extends Shape>(shape: S): Schema<Infer<S> & { [k: string]: unknown }> => objectOf(shape, true);
