// Pure planning for the bridge plugin: which gateway each address gets, which addresses the
// bridge must carry, the kernel operations (lib/kernel/ip-ops.ts) and `bridge -batch` lines for the
// host side, and the result.

import { chooseDns } from '../../lib/cni/attachments.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import type { DNS, Interface, IPConfig, Result, Route } from '../../lib/cni/types.ts';
import type { AddrOp, BridgeAdd, IpOp } from '../../lib/kernel/ip-ops.ts';
import { DEFAULT_DST } from '../../lib/kernel/shapes.ts';
import { familyOfAddress, formatIP, ipEqual, networkOf, nextIP, overlaps, parseCidr, parseIP } from '../../lib/net/address.ts';
import type { BridgeConfig } from './config.ts';

/** The container interface's index in the result: after the bridge (0) and the host veth (1). */
export const BRIDGE_CONTAINER_INDEX = 2;

export interface Addressing {
  /** Container addresses, `interface` = BRIDGE_CONTAINER_INDEX, gateway filled in with isGateway. */
  ips: IPConfig[];
  routes: Route[];
  /** Addresses the bridge must carry (gateway/prefix), one per family, with isGateway. */
  bridgeAddresses: string[];
}

/** Reference calcGateways: fill gateways, add default routes, collect the bridge's gateway addresses. */
export function planBridgeAddressing(cfg: BridgeConfig, ipam: Result): Addressing {
  const ips: IPConfig[] = [];
  const routes: Route[] = [...(ipam.routes ?? [])];
  const bridgeAddresses: string[] = [];
  const seenFamily = new Set<number>();
  for (const ip of ipam.ips ?? []) {
    const cidr = parseCidr(ip.address)!;
    const fam = cidr.ip.family;
    let gateway = ip.gateway;
    if (!gateway && cfg.isGateway) gateway = formatIP(nextIP(networkOf(cidr)));
    ips.push({ address: ip.address, ...(gateway ? { gateway } : {}), interface: BRIDGE_CONTAINER_INDEX });
    if (!cfg.isGateway || !gateway || seenFamily.has(fam)) continue;
    seenFamily.add(fam);
    bridgeAddresses.push(`${gateway}/${cidr.prefix}`);
    if (cfg.isDefaultGateway) {
      const existing = routes.find((r) => isDefaultRoute(r.dst, fam));
      if (existing?.gw && !ipEqual(parseIP(existing.gw)!, parseIP(gateway)!)) {
        throw new CniError(ErrorCode.InvalidConfig, `isDefaultGateway ineffective because IPAM sets default route via "${existing.gw}"`);
      }
      if (!existing) routes.push({ dst: DEFAULT_DST[fam], gw: gateway });
      else if (!existing.gw) existing.gw = gateway;
    }
  }
  return { ips, routes, bridgeAddresses };
}

const isDefaultRoute = (dst: string, fam: 4 | 6): boolean => {
  const c = parseCidr(dst);
  return !!c && c.prefix === 0 && c.ip.family === fam;
};

export function planCreateBridge(cfg: BridgeConfig, mac: string): BridgeAdd {
  const vlanFiltering = cfg.vlan || cfg.vlanTrunk.length ? true : undefined;
  return { kind: 'bridge-add', name: cfg.bridge, mac, mtu: cfg.mtu || undefined, vlanFiltering };
}

/** Enslave the host veth and set its port flags; bring both up. */
export function planHostPort(cfg: BridgeConfig, hostVeth: string): IpOp[] {
  const ops: IpOp[] = [{ kind: 'link-set', dev: hostVeth, master: cfg.bridge }];
  if (cfg.hairpinMode || cfg.portIsolation) {
    ops.push({ kind: 'bridge-port', dev: hostVeth, hairpin: cfg.hairpinMode || undefined, isolated: cfg.portIsolation || undefined });
  }
  if (cfg.promiscMode) ops.push({ kind: 'link-set', dev: cfg.bridge, promisc: true });
  ops.push({ kind: 'link-set', dev: hostVeth, up: true }, { kind: 'link-set', dev: cfg.bridge, up: true });
  return ops;
}

/** `bridge -batch` lines for VLAN access/trunk ports (reference semantics). */
export function planPortVlans(cfg: BridgeConfig, hostVeth: string): string[] {
  if (!cfg.vlan && !cfg.vlanTrunk.length) return [];
  const lines: string[] = [];
  if (!cfg.preserveDefaultVlan) lines.push(`vlan del dev ${hostVeth} vid 1`);
  if (cfg.vlan) lines.push(`vlan add dev ${hostVeth} vid ${cfg.vlan} pvid untagged master`);
  else if (!cfg.preserveDefaultVlan) lines.push(`vlan add dev ${hostVeth} vid 1 pvid untagged master`);
  for (const id of cfg.vlanTrunk) if (id !== cfg.vlan) lines.push(`vlan add dev ${hostVeth} vid ${id} master`);
  return lines;
}

export interface ExistingAddress {
  family: 4 | 6;
  cidr: string;
}

/**
 * Operations that give the bridge its gateway addresses. A different IPv4 address (or an overlapping
 * IPv6 one) is a conflict: replaced with forceAddress, otherwise an error naming both.
 */
export function planBridgeAddresses(cfg: BridgeConfig, wanted: string[], existing: ExistingAddress[]): AddrOp[] {
  const ops: AddrOp[] = [];
  for (const want of wanted) {
    const w = parseCidr(want)!;
    let present = false;
    for (const have of existing) {
      const h = parseCidr(have.cidr)!;
      if (h.ip.family !== w.ip.family) continue;
      if (ipEqual(h.ip, w.ip) && h.prefix === w.prefix) {
        present = true;
        continue;
      }
      const conflicting = w.ip.family === 4 || overlaps(h, w);
      if (!conflicting) continue;
      if (!cfg.forceAddress) {
        throw new CniError(
          ErrorCode.InterfaceConflict,
          `"${cfg.bridge}" already has an IP address different from ${want}`,
          `it has ${have.cidr}; set "forceAddress": true to replace it`,
        );
      }
      ops.push({ kind: 'addr', verb: 'del', cidr: have.cidr, dev: cfg.bridge });
    }
    // `replace`: two concurrent first ADDs may both find the bridge bare; the second must not fail.
    // `nodad` (IPv6): the gateway answers at once instead of after 1-2 s of DAD; IPAM owns uniqueness.
    if (!present) ops.push({ kind: 'addr', verb: 'replace', cidr: want, dev: cfg.bridge, nodad: w.ip.family === 6 });
  }
  return ops;
}

/**
 * The gateway addresses on the bridge, then its MAC set to its own value: a MAC set explicitly is
 * pinned (the kernel no longer gives the bridge the lowest MAC of its ports as they come and go),
 * as the reference does when it adds a gateway address.
 */
export function planBridgeGateway(
  cfg: BridgeConfig,
  addressing: Addressing,
  bridge: { mac: string; addresses: ExistingAddress[] },
): IpOp[] {
  return [
    ...planBridgeAddresses(cfg, addressing.bridgeAddresses, bridge.addresses),
    { kind: 'link-set', dev: cfg.bridge, mac: bridge.mac },
  ];
}

export function forwardingSysctls(ips: IPConfig[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ip of ips) {
    if (familyOfAddress(ip.address) === 4) out['net/ipv4/ip_forward'] = '1';
    else out['net/ipv6/conf/all/forwarding'] = '1';
  }
  return out;
}

export function buildBridgeResult(args: {
  cfg: BridgeConfig;
  bridgeMac: string;
  hostVeth: string;
  hostMac: string;
  ifname: string;
  containerMac: string;
  netns: string;
  addressing?: Addressing;
  ipamDns?: DNS;
}): Result {
  const interfaces: Interface[] = [
    { name: args.cfg.bridge, mac: args.bridgeMac },
    { name: args.hostVeth, mac: args.hostMac },
    { name: args.ifname, mac: args.containerMac, sandbox: args.netns },
  ];
  const result: Result = { cniVersion: '1.1.0', interfaces };
  if (args.addressing) {
    result.ips = args.addressing.ips;
    if (args.addressing.routes.length) result.routes = args.addressing.routes;
  }
  const dns = chooseDns(args.cfg.raw.dns, args.ipamDns);
  if (dns) result.dns = dns;
  return result;
}
