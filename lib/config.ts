// Network configuration validation with zod. Every plugin extends `baseConfigShape` with its own
// typed keys; any violation becomes a CNI error that names the key (code 7, or 2 for a value the
// plugin does not support).
import { z } from 'zod';
import { CniError, ErrorCode, preview } from './errors.ts';

export const dnsSchema = z.object({
  nameservers: z.array(z.string()).optional(),
  domain: z.string().optional(),
  search: z.array(z.string()).optional(),
  options: z.array(z.string()).optional(),
});

export const routeSchema = z.looseObject({
  dst: z.string(),
  gw: z.string().optional(),
  mtu: z.number().int().optional(),
  advmss: z.number().int().optional(),
  priority: z.number().int().optional(),
  table: z.number().int().optional(),
  scope: z.number().int().optional(),
});

/** A range as host-local and the `ipRanges` capability describe it. */
export const rangeSchema = z.looseObject({
  subnet: z.string(),
  rangeStart: z.string().optional(),
  rangeEnd: z.string().optional(),
  gateway: z.string().optional(),
});

export const baseConfigShape = {
  cniVersion: z.string().optional(),
  cniVersions: z.array(z.string()).optional(),
  name: z.string(),
  type: z.string().optional(),
  ipam: z.looseObject({ type: z.string().optional() }).optional(),
  dns: dnsSchema.optional(),
  capabilities: z.record(z.string(), z.boolean()).optional(),
  prevResult: z.unknown().optional(),
  runtimeConfig: z
    .looseObject({
      ips: z.array(z.string()).optional(),
      mac: z.string().optional(),
      ipRanges: z.array(z.array(rangeSchema)).optional(),
    })
    .optional(),
  args: z
    .looseObject({
      cni: z.looseObject({ ips: z.array(z.string()).optional(), mac: z.string().optional() }).optional(),
    })
    .optional(),
};

export const baseConfigSchema = z.looseObject(baseConfigShape);
export type BaseConfig = z.infer<typeof baseConfigSchema>;

const keyPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');

/** Validate `raw` against `schema`; the first problem becomes a CniError naming its key. */
export function parseConfig<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const key = keyPath(issue.path) || '(config)';
  const value = valueAt(raw, issue.path);
  const shown = value === undefined ? 'missing' : preview(value, 100);
  const code = issue.code === 'invalid_value' ? ErrorCode.UnsupportedField : ErrorCode.InvalidConfig;
  throw new CniError(code, `invalid config key "${key}": ${issue.message} (got ${shown})`);
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
