// Pure planning for the bridge plugin: which gateway each address gets, which addresses the
// bridge must carry, the `ip`/`bridge` batch lines for the host side, and the result.
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import { chooseDns } from '../../lib/cni/result-format.ts';
import type { DNS, Interface, IPConfig, Result, Route } from '../../lib/cni/types.ts';
import { familyOfAddress } from '../../lib/kernel/pod-interface.ts';
import { formatIP, ipEqual, networkOf, nextIP, overlaps, parseCidr, parseIP } from '../../lib/net/address.ts';
import type { BridgeConfig } from './config.ts';

export const CONTAINER_INDEX = 2;

export interface Addressing {
  /** Container addresses, `interface` = 2, gateway filled in with isGateway. */
  ips: IPConfig[];
  routes: Route[];
  /** Addresses the bridge must carry (gateway/prefix), one per family, with isGateway. */
  bridgeAddresses: string[];
}

const DEFAULT_DST = { 4: '0.0.0.0/0', 6: '::/0' } as const;

/** Reference calcGateways: fill gateways, add default routes, collect bridge addresses. */
export function planAddressing(cfg: BridgeConfig, ipam: Result): Addressing {
  const ips: IPConfig[] = [];
  const routes: Route[] = [...(ipam.routes ?? [])];
  const bridgeAddresses: string[] = [];
  const seenFamily = new Set<number>();
  for (const ip of ipam.ips ?? []) {
    const cidr = parseCidr(ip.address)!;
    const fam = cidr.ip.family;
    let gateway = ip.gateway;
    if (!gateway && cfg.isGateway) gateway = formatIP(nextIP(networkOf(cidr)));
    ips.push({ address: ip.address, ...(gateway ? { gateway } : {}), interface: CONTAINER_INDEX });
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

export function planCreateBridge(cfg: BridgeConfig, mac: string): string {
  const mtu = cfg.mtu ? ` mtu ${cfg.mtu}` : '';
  const vlanFiltering = cfg.vlan || cfg.vlanTrunk.length ? ' vlan_filtering 1' : '';
  return `link add ${cfg.bridge} address ${mac}${mtu} type bridge${vlanFiltering}`;
}

/** Enslave the host veth and set its port flags; bring both up. */
export function planHostPort(cfg: BridgeConfig, hostVeth: string): string[] {
  const lines = [`link set ${hostVeth} master ${cfg.bridge}`];
  const flags: string[] = [];
  if (cfg.hairpinMode) flags.push('hairpin on');
  if (cfg.portIsolation) flags.push('isolated on');
  if (flags.length) lines.push(`link set dev ${hostVeth} type bridge_slave ${flags.join(' ')}`);
  if (cfg.promiscMode) lines.push(`link set ${cfg.bridge} promisc on`);
  lines.push(`link set ${hostVeth} up`, `link set ${cfg.bridge} up`);
  return lines;
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
 * Lines that give the bridge its gateway addresses. A different IPv4 address (or an overlapping
 * IPv6 one) is a conflict: replaced with forceAddress, otherwise an error naming both.
 */
export function planBridgeAddresses(cfg: BridgeConfig, wanted: string[], existing: ExistingAddress[]): string[] {
  const lines: string[] = [];
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
      lines.push(`addr del ${have.cidr} dev ${cfg.bridge}`);
    }
    // `replace`: two concurrent first ADDs may both find the bridge bare; the second must not fail.
    // `nodad` (IPv6): the gateway answers at once instead of after 1-2 s of DAD; IPAM owns uniqueness.
    if (!present) lines.push(`addr replace ${want} dev ${cfg.bridge}${w.ip.family === 6 ? ' nodad' : ''}`);
  }
  return lines;
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
