// Network configuration validation. Every plugin extends `baseConfigShape` with its own typed
// keys; any violation becomes a CNI error that names the key (code 7, or 2 for a value the plugin
// does not support). The schemas are lib/cni/schema.ts (zod/mini's API, a fraction of its start-up).

import { CniError, ErrorCode, preview } from './errors.ts';
import * as z from './schema.ts';

const opt = <T>(schema: z.Schema<T>) => z.optional(schema);
const strings = () => opt(z.array(z.string()));

export const dnsSchema = z.object({
  nameservers: strings(),
  domain: opt(z.string()),
  search: strings(),
  options: strings(),
});

export const routeSchema = z.looseObject({
  dst: z.string(),
  gw: opt(z.string()),
  mtu: opt(z.int()),
  advmss: opt(z.int()),
  priority: opt(z.int()),
  table: opt(z.int()),
  scope: opt(z.int()),
});

/** A range as host-local and the `ipRanges` capability describe it. */
export const rangeSchema = z.looseObject({
  subnet: z.string(),
  rangeStart: opt(z.string()),
  rangeEnd: opt(z.string()),
  gateway: opt(z.string()),
});

export const baseConfigShape = {
  cniVersion: opt(z.string()),
  cniVersions: strings(),
  name: z.string(),
  type: opt(z.string()),
  ipam: opt(z.looseObject({ type: opt(z.string()) })),
  dns: opt(dnsSchema),
  capabilities: opt(z.record(z.string(), z.boolean())),
  prevResult: opt(z.unknown()),
  runtimeConfig: opt(
    z.looseObject({
      ips: strings(),
      mac: opt(z.string()),
      ipRanges: opt(z.array(z.array(rangeSchema))),
    }),
  ),
  args: opt(
    z.looseObject({
      cni: opt(z.looseObject({ ips: strings(), mac: opt(z.string()) })),
    }),
  ),
};

export const baseConfigSchema = z.looseObject(baseConfigShape);
export type BaseConfig = z.infer<typeof baseConfigSchema>;

const keyPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');

/** Validate `raw` against `schema`; the first problem becomes a CniError naming its key. */
export function parseConfig<T>(schema: z.Schema<T>, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const key = keyPath(issue.path) || '(config)';
  const value = valueAt(raw, issue.path);
  const shown = value === undefined ? 'missing' : preview(value, 100);
  const code = issue.code === 'invalid_value' ? ErrorCode.UnsupportedField : ErrorCode.InvalidConfig;
  throw new CniError(code, `invalid config key "${key}": ${describeIssue(issue)} (got ${shown})`);
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** Config-level error naming a key and its value (for checks zod cannot express). */
export function configError(key: string, value: unknown, why: string, code: number = ErrorCode.InvalidConfig): CniError {
  return new CniError(code, `invalid config key "${key}" = ${preview(value, 300)}: ${why}`);
}

/** What was expected, from the issue's own fields. */
export function describeIssue(issue: z.Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `required ${issue.expected}`
        : `expected ${issue.expected === 'int' ? 'an integer' : issue.expected}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `must be ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`;
  }
}
