// bridge's network config as a zod schema: every key of the reference plugin (README "bridge").
// The TypeScript type, the build-time compiled parser and dist/schema/bridge.json come from it.
import * as z from 'zod/mini';
import { baseConfigShape, described } from '../../lib/cni/config-schema.ts';

const flag = (description: string) => described(z.optional(z.boolean()), description);
const vlanId = (description: string) => described(z.optional(z.int()), description);

export const trunkSchema = z.looseObject({
  id: vlanId('one trunk VLAN (1-4094)'),
  minID: vlanId('first VLAN of a trunk range (with maxID)'),
  maxID: vlanId('last VLAN of a trunk range (with minID)'),
});

export const bridgeConfigSchema = z.looseObject({
  ...baseConfigShape,
  bridge: described(z.optional(z.string()), 'bridge name (default cni0); created when missing'),
  isGateway: flag('the bridge carries the gateway address; forwarding is enabled'),
  isDefaultGateway: flag('implies isGateway; adds a default route via the gateway'),
  forceAddress: flag('replace a different address already on the bridge'),
  ipMasq: flag('masquerade pod traffic leaving the pod network'),
  ipMasqBackend: described(z.optional(z.enum(['iptables', 'nftables'])), 'masquerade backend (default: iptables unless unusable)'),
  mtu: described(
    z.optional(z.int().check(z.minimum(0), z.maximum(65535))),
    'MTU of both veth ends and of a new bridge (0: kernel default)',
  ),
  hairpinMode: flag('hairpin on the host port'),
  promiscMode: flag('bridge in promiscuous mode (not with hairpinMode)'),
  vlan: vlanId('access VLAN of the port, 0-4094 (0: none)'),
  vlanTrunk: described(z.optional(z.array(trunkSchema)), 'trunk VLANs of the port'),
  preserveDefaultVlan: flag('keep VLAN 1 on the port with vlan/vlanTrunk'),
  enabledad: flag('IPv6 duplicate address detection in the pod'),
  macspoofchk: flag('drop frames from the pod with another source MAC'),
  disableContainerInterface: flag('leave the pod interface down (L2 only, no ipam.type)'),
  portIsolation: flag('isolated bridge port'),
});

export type RawBridgeConfig = z.infer<typeof bridgeConfigSchema>;
export type RawTrunk = z.infer<typeof trunkSchema>;
