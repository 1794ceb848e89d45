// The zod schemas every network config shares: the keys the CNI specification and the runtimes
// define (cniVersion, name, ipam, dns, capabilities, runtimeConfig, args, prevResult), which each
// plugin's schema spreads into its own (plugins/<name>/schema.ts). Keys outside a schema are kept:
// runtimes add keys of their own. The plugins' code reads these through lib/cni/config.ts, which
// loads this module only when a config fails the build-time compiled parser (see there).
import * as z from 'zod/mini';

const strings = () => z.optional(z.array(z.string()));

export const dnsSchema = z.object({
  nameservers: strings(),
  domain: z.optional(z.string()),
  search: strings(),
  options: strings(),
});

export const routeSchema = z.looseObject({
  dst: z.string(),
  gw: z.optional(z.string()),
  mtu: z.optional(z.int()),
  advmss: z.optional(z.int()),
  priority: z.optional(z.int()),
  table: z.optional(z.int()),
  scope: z.optional(z.int()),
});

/** A range as host-local and the `ipRanges` capability describe it. */
export const rangeSchema = z.looseObject({
  subnet: z.string(),
  rangeStart: z.optional(z.string()),
  rangeEnd: z.optional(z.string()),
  gateway: z.optional(z.string()),
});

export const baseConfigShape = {
  cniVersion: z.optional(z.string()),
  cniVersions: strings(),
  name: z.string(),
  type: z.optional(z.string()),
  ipam: z.optional(z.looseObject({ type: z.optional(z.string()) })),
  dns: z.optional(dnsSchema),
  capabilities: z.optional(z.record(z.string(), z.boolean())),
  prevResult: z.optional(z.unknown()),
  runtimeConfig: z.optional(
    z.looseObject({
      ips: strings(),
      mac: z.optional(z.string()),
      ipRanges: z.optional(z.array(z.array(rangeSchema))),
    }),
  ),
  args: z.optional(
    z.looseObject({
      cni: z.optional(z.looseObject({ ips: strings(), mac: z.optional(z.string()) })),
    }),
  ),
};

export const baseConfigSchema = z.looseObject(baseConfigShape);
export type BaseConfig = z.infer<typeof baseConfigSchema>;
export type RawRoute = z.infer<typeof routeSchema>;
export type RawRange = z.infer<typeof rangeSchema>;
