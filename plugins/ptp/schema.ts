// ptp's network config as a zod schema: the reference plugin's keys plus the routed (Calico-style,
// proxy ARP) mode's keys (README "ptp"). The TypeScript type, the build-time compiled parser and
// dist/schema/ptp.json come from it.
import * as z from 'zod/mini';
import { baseConfigShape, described } from '../../lib/cni/config-schema.ts';

export const ptpConfigSchema = z.looseObject({
  ...baseConfigShape,
  ipMasq: described(z.optional(z.boolean()), 'masquerade pod traffic leaving the pod network'),
  ipMasqBackend: described(z.optional(z.enum(['iptables', 'nftables'])), 'masquerade backend (default: iptables unless unusable)'),
  mtu: described(z.optional(z.int().check(z.minimum(0), z.maximum(65535))), 'MTU of both veth ends (0: kernel default)'),
  proxyArp: described(
    z.optional(z.boolean()),
    'routed mode (Calico style): no address on the host veth, which answers ARP for 169.254.1.1 by proxy',
  ),
  hostVethPrefix: described(
    z.optional(z.string()),
    'routed mode: prefix of the host veth name (1-11 of [a-zA-Z0-9_-], starting with a letter; default ptp)',
  ),
});

export type RawPtpConfig = z.infer<typeof ptpConfigSchema>;
