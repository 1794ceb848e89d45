// bridge network configuration: every key of the reference plugin (README "bridge"), typed by its
// zod schema (./schema.ts) and checked by the build-time compiled parser of that schema.
import { parse as compiledBridgeConfig } from 'cni-ts:compiled/bridgeConfigSchema';
import { configError, parseConfig, type Validator } from '../../lib/cni/config.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import { validateIfname } from '../../lib/cni/env.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import { isMac, normalizeMac } from '../../lib/net/mac.ts';
import type { RawBridgeConfig, RawTrunk } from './schema.ts';

export type { RawBridgeConfig };

const bridgeConfig: Validator<RawBridgeConfig> = {
  compiled: compiledBridgeConfig,
  schema: () => import('./schema.ts').then((m) => m.bridgeConfigSchema),
};

export interface BridgeConfig {
  raw: RawBridgeConfig;
  network: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  ipMasqBackend?: 'iptables' | 'nftables';
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  vlan: number;
  vlanTrunk: number[];
  preserveDefaultVlan: boolean;
  enabledad: boolean;
  macspoofchk: boolean;
  disableContainerInterface: boolean;
  portIsolation: boolean;
  /** IPAM plugin type; undefined = L2 mode (no addresses). */
  ipamType?: string;
  /** Container MAC: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC. */
  mac?: string;
}

function trunkIds(trunks: RawTrunk[]): number[] {
  const ids = new Set<number>();
  trunks.forEach((t, i) => {
    const key = `vlanTrunk[${i}]`;
    if (t.id !== undefined) {
      if (t.id < 1 || t.id > 4094) throw configError(`${key}.id`, t.id, 'VLAN id must be 1..4094');
      ids.add(t.id);
    }
    if ((t.minID === undefined) !== (t.maxID === undefined)) {
      throw configError(key, t, 'minID and maxID must be given together');
    }
    if (t.minID !== undefined && t.maxID !== undefined) {
      if (t.minID < 1 || t.maxID > 4094 || t.minID > t.maxID) throw configError(key, t, 'need 1 <= minID <= maxID <= 4094');
      for (let v = t.minID; v <= t.maxID; v++) ids.add(v);
    }
  });
  return [...ids].sort((a, b) => a - b);
}

function containerMac(raw: RawBridgeConfig, req: Request): string | undefined {
  const candidates: Array<[string, string | undefined]> = [
    ['runtimeConfig.mac', raw.runtimeConfig?.mac],
    ['args.cni.mac', raw.args?.cni?.mac],
    ['CNI_ARGS MAC', req.cniArgs.get('MAC')],
  ];
  for (const [key, value] of candidates) {
    if (value === undefined || value === '') continue;
    if (!isMac(value)) throw configError(key, value, 'not a MAC address');
    if (parseInt(value.slice(0, 2), 16) & 1) throw configError(key, value, 'multicast MAC cannot be an interface address');
    return normalizeMac(value);
  }
  return undefined;
}

export async function loadBridgeConfig(req: Request): Promise<BridgeConfig> {
  const raw = await parseConfig(bridgeConfig, req.config);
  const bridge = raw.bridge || 'cni0';
  try {
    validateIfname(bridge, 'bridge name');
  } catch (e) {
    throw new CniError(ErrorCode.InvalidConfig, `invalid config key "bridge": ${(e as Error).message}`);
  }
  const vlan = raw.vlan ?? 0;
  if (vlan < 0 || vlan > 4094) throw configError('vlan', vlan, 'invalid VLAN ID (must be between 0 and 4094)');
  if (raw.hairpinMode && raw.promiscMode) {
    throw new CniError(ErrorCode.InvalidConfig, 'invalid config: "hairpinMode" and "promiscMode" cannot both be true');
  }
  const ipamType = raw.ipam?.type || undefined;
  if (ipamType && raw.disableContainerInterface) {
    throw new CniError(ErrorCode.InvalidConfig, 'invalid config: "disableContainerInterface" cannot be combined with IPAM ("ipam.type")');
  }
  const isDefaultGateway = raw.isDefaultGateway ?? false;
  return {
    raw,
    network: raw.name,
    bridge,
    isGateway: (raw.isGateway ?? false) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: raw.forceAddress ?? false,
    // Masquerade needs addresses: L2 mode ignores it, as in the reference.
    ipMasq: (raw.ipMasq ?? false) && ipamType !== undefined,
    ipMasqBackend: raw.ipMasqBackend,
    mtu: raw.mtu || undefined,
    hairpinMode: raw.hairpinMode ?? false,
    promiscMode: raw.promiscMode ?? false,
    vlan,
    vlanTrunk: trunkIds(raw.vlanTrunk ?? []),
    preserveDefaultVlan: raw.preserveDefaultVlan ?? false,
    enabledad: raw.enabledad ?? false,
    macspoofchk: raw.macspoofchk ?? false,
    disableContainerInterface: raw.disableContainerInterface ?? false,
    portIsolation: raw.portIsolation ?? false,
    ipamType,
    mac: containerMac(raw, req),
  };
}
