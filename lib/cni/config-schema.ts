// The zod schemas every network config shares: the keys the CNI specification and the runtimes
// define (cniVersion, name, ipam, dns, capabilities, runtimeConfig, args, prevResult), which each
// plugin's schema spreads into its own (plugins/<name>/schema.ts). Keys outside a schema are kept:
// runtimes add keys of their own. The plugins' code reads these through lib/cni/config.ts, which
// loads this module only when a config fails the build-time compiled parser (see there).
// Descriptions are registry metadata: they reach the JSON Schemas (dist/schema/, an editor's
// hover text) and leave the parsers as they are.
import * as z from 'zod/mini';

/** `schema` with a description for the JSON Schema (a new schema object per key: metadata is per object). */
export function described<T extends z.ZodMiniType>(schema: T, description: string): T {
  z.globalRegistry.add(schema, { description });
  return schema;
}

const strings = (description?: string) => {
  const s = z.optional(z.array(z.string()));
  return description ? described(s, description) : s;
};

export const dnsSchema = z.object({
  nameservers: strings('DNS servers, in order of preference'),
  domain: described(z.optional(z.string()), 'local domain'),
  search: strings('search domains'),
  options: strings('resolver options'),
});

export const routeSchema = z.looseObject({
  dst: described(z.string(), 'destination CIDR, e.g. "0.0.0.0/0"'),
  gw: described(z.optional(z.string()), 'next hop; absent: the gateway of the address of that family'),
  mtu: z.optional(z.int()),
  advmss: z.optional(z.int()),
  priority: z.optional(z.int()),
  table: z.optional(z.int()),
  scope: z.optional(z.int()),
});

/** A range as host-local and the `ipRanges` capability describe it. */
export const rangeSchema = z.looseObject({
  subnet: described(z.string(), 'network address with prefix, no host bits, at least 2 host bits (e.g. "10.1.0.0/24")'),
  rangeStart: described(z.optional(z.string()), 'first address handed out (default: subnet + 1)'),
  rangeEnd: described(z.optional(z.string()), 'last address handed out (default: the last one, minus broadcast for IPv4)'),
  gateway: described(z.optional(z.string()), 'returned as the gateway, never handed out (default: subnet + 1)'),
});

export const baseConfigShape = {
  cniVersion: described(z.optional(z.string()), 'CNI specification version of this config and of the result (0.1.0 to 1.1.0)'),
  cniVersions: strings('versions a runtime may choose from (conflists)'),
  name: described(z.string(), 'network name, unique on the host'),
  type: described(z.optional(z.string()), 'the plugin: the name of its executable in CNI_PATH'),
  ipam: described(z.optional(z.looseObject({ type: z.optional(z.string()) })), 'IPAM plugin config (`type` = its executable)'),
  dns: described(z.optional(dnsSchema), 'DNS settings for the result; replace the IPAM ones when any field is set'),
  capabilities: described(
    z.optional(z.record(z.string(), z.boolean())),
    'runtime capabilities this plugin wants (ips, mac, ipRanges, portMappings, …)',
  ),
  prevResult: described(z.optional(z.unknown()), 'result of the previous plugin in the chain (set by the runtime)'),
  runtimeConfig: described(
    z.optional(
      z.looseObject({
        ips: strings('requested addresses ("ip" or "ip/len")'),
        mac: described(z.optional(z.string()), 'pod interface MAC'),
        ipRanges: described(z.optional(z.array(z.array(rangeSchema))), 'range sets put before ipam.ranges'),
      }),
    ),
    'capability values set by the runtime',
  ),
  args: described(
    z.optional(
      z.looseObject({
        cni: z.optional(z.looseObject({ ips: strings('requested addresses'), mac: z.optional(z.string()) })),
      }),
    ),
    'extra arguments (args.cni.ips, args.cni.mac)',
  ),
};

export const baseConfigSchema = z.looseObject(baseConfigShape);
export type BaseConfig = z.infer<typeof baseConfigSchema>;
export type RawRoute = z.infer<typeof routeSchema>;
export type RawRange = z.infer<typeof rangeSchema>;
