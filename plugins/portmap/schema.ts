// portmap's network config as a zod schema: the reference plugin's keys (README "portmap"). The
// TypeScript type, the build-time compiled parser and dist/schema/portmap.json come from it.
import * as z from 'zod/mini';
import { baseConfigShape, described } from '../../lib/cni/config-schema.ts';

const port = (what: string) => described(z.int().check(z.minimum(1), z.maximum(65535)), what);
const conditions = (family: string) =>
  described(
    z.optional(z.array(z.string())),
    `extra match conditions of the ${family} DNAT rules (iptables arguments, or nft words; decides the backend)`,
  );

export const portMappingSchema = z.looseObject({
  hostPort: port('port on the node'),
  containerPort: port('port in the pod'),
  protocol: described(z.string(), 'tcp, udp or sctp'),
  hostIP: described(z.optional(z.string()), 'node address to forward from (default: every address of the family)'),
});

export const portmapConfigSchema = z.looseObject({
  ...baseConfigShape,
  snat: described(z.optional(z.boolean()), 'masquerade hairpin and localhost traffic to the pod (default true)'),
  markMasqBit: described(
    z.optional(z.int().check(z.minimum(0), z.maximum(31))),
    'iptables: the mark bit of packets to masquerade (default 13)',
  ),
  externalSetMarkChain: described(
    z.optional(z.string()),
    'iptables: an existing chain that marks packets to masquerade (e.g. KUBE-MARK-MASQ)',
  ),
  conditionsV4: conditions('IPv4'),
  conditionsV6: conditions('IPv6'),
  masqAll: described(z.optional(z.boolean()), 'hairpin masquerade from any source, not only the pod network (default false)'),
  backend: described(z.optional(z.enum(['iptables', 'nftables'])), "firewall backend (default: the host's, or the one the keys imply)"),
  runtimeConfig: described(
    z.optional(z.looseObject({ portMappings: described(z.optional(z.array(portMappingSchema)), 'the host ports (set by the runtime)') })),
    'capability values set by the runtime',
  ),
});

export type RawPortmapConfig = z.infer<typeof portmapConfigSchema>;
export type RawPortMapping = z.infer<typeof portMappingSchema>;
