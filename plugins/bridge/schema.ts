// bridge's network config as a zod schema: every key of the reference plugin (README "bridge").
// The TypeScript type, the build-time compiled parser and dist/schema/bridge.json come from it.
import * as z from 'zod/mini';
import { baseConfigShape } from '../../lib/cni/config-schema.ts';

const vlanId = z.optional(z.int());
export const trunkSchema = z.looseObject({ id: vlanId, minID: vlanId, maxID: vlanId });
const flag = z.optional(z.boolean());

export const bridgeConfigSchema = z.looseObject({
  ...baseConfigShape,
  bridge: z.optional(z.string()),
  isGateway: flag,
  isDefaultGateway: flag,
  forceAddress: flag,
  ipMasq: flag,
  ipMasqBackend: z.optional(z.enum(['iptables', 'nftables'])),
  mtu: z.optional(z.int().check(z.minimum(0), z.maximum(65535))),
  hairpinMode: flag,
  promiscMode: flag,
  vlan: z.optional(z.int()),
  vlanTrunk: z.optional(z.array(trunkSchema)),
  preserveDefaultVlan: flag,
  enabledad: flag,
  macspoofchk: flag,
  disableContainerInterface: flag,
  portIsolation: flag,
});

export type RawBridgeConfig = z.infer<typeof bridgeConfigSchema>;
export type RawTrunk = z.infer<typeof trunkSchema>;
