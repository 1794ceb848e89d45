// ptp's network config as a zod schema: the reference plugin's keys plus the routed (Calico-style,
// proxy ARP) mode's keys (README "ptp"). The TypeScript type, the build-time compiled parser and
// dist/schema/ptp.json come from it.
import * as z from 'zod/mini';
import { baseConfigShape } from '../../lib/cni/config-schema.ts';

export const ptpConfigSchema = z.looseObject({
  ...baseConfigShape,
  ipMasq: z.optional(z.boolean()),
  ipMasqBackend: z.optional(z.enum(['iptables', 'nftables'])),
  mtu: z.optional(z.int().check(z.minimum(0), z.maximum(65535))),
  /** Routed mode: no address on the host veth, the host answers ARP for 169.254.1.1 by proxy. */
  proxyArp: z.optional(z.boolean()),
  /** Routed mode: host veth name = prefix + hash of the pod identity (Calico's scheme). */
  hostVethPrefix: z.optional(z.string()),
});

export type RawPtpConfig = z.infer<typeof ptpConfigSchema>;
