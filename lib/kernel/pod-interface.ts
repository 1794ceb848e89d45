// Pure planning of the container side of an attachment: sysctls, addresses, link up, routes
// (what the reference's ipam.ConfigureIface does), shared by bridge and ptp.

import type { IPConfig, Route } from '../cni/types.ts';
import { type Family, parseCidr, parseIP } from '../net/address.ts';
import type { Sysctls } from './sysctl.ts';

const SCOPE_LINK = 253;

export type DadMode = 'off' | 'enhanced';

export interface PodAddressing {
  ifname: string;
  ips: IPConfig[];
  routes: Route[];
  dad: DadMode;
}

export interface PodPlan {
  sysctls: Sysctls;
  /** sysctls whose failure is tolerated (e.g. IPv6 knobs on a kernel without IPv6). */
  optionalSysctls: string[];
  lines: string[];
}

export const familyOfAddress = (cidrOrIp: string): Family => (cidrOrIp.includes(':') ? 6 : 4);

/** The first gateway of each family, used for routes that carry no `gw`. */
export function defaultGateways(ips: IPConfig[]): Partial<Record<Family, string>> {
  const out: Partial<Record<Family, string>> = {};
  for (const ip of ips) {
    const fam = familyOfAddress(ip.address);
    if (ip.gateway && !out[fam]) out[fam] = ip.gateway;
  }
  return out;
}

/** `ip route add …` arguments for one result route on `dev`. */
export function routeLine(verb: 'add' | 'replace' | 'del', r: Route, dev: string, gw?: string): string {
  const dst = parseCidr(r.dst);
  const parts = [`route ${verb}`, dst ? `${r.dst}` : r.dst];
  // A link-scope route (e.g. routed ptp's on-link route to its next hop) never takes the fallback gateway.
  const via = r.gw ?? (r.scope === SCOPE_LINK ? undefined : gw);
  if (via && parseIP(via)) parts.push(`via ${via}`);
  parts.push(`dev ${dev}`);
  if (r.priority !== undefined) parts.push(`metric ${r.priority}`);
  if (r.table !== undefined) parts.push(`table ${r.table}`);
  if (r.scope !== undefined) parts.push(`scope ${r.scope}`);
  if (r.mtu !== undefined) parts.push(`mtu ${r.mtu}`);
  if (r.advmss !== undefined) parts.push(`advmss ${r.advmss}`);
  return parts.join(' ');
}

export function planPodAddressing(p: PodAddressing): PodPlan {
  const sysctls: Sysctls = {};
  const optional: string[] = [];
  const has4 = p.ips.some((ip) => familyOfAddress(ip.address) === 4);
  const has6 = p.ips.some((ip) => familyOfAddress(ip.address) === 6);
  if (has4) sysctls[`net/ipv4/conf/${p.ifname}/arp_notify`] = '1';
  const v6 = `net/ipv6/conf/${p.ifname}`;
  if (has6) {
    sysctls['net/ipv6/conf/lo/disable_ipv6'] = '0';
    sysctls[`${v6}/disable_ipv6`] = '0';
    sysctls[`${v6}/keep_addr_on_down`] = '1';
  }
  // DAD off unless asked for: IPAM already guarantees uniqueness and DAD delays the pod by 1-2 s.
  if (p.dad === 'enhanced') {
    sysctls[`${v6}/enhanced_dad`] = '1';
    sysctls[`${v6}/accept_dad`] = '1';
  } else {
    sysctls[`${v6}/accept_dad`] = '0';
  }
  if (!has6) optional.push(`${v6}/accept_dad`, `${v6}/enhanced_dad`);
  const lines: string[] = [];
  for (const ip of p.ips) {
    const nodad = familyOfAddress(ip.address) === 6 && p.dad === 'off' ? ' nodad' : '';
    // IPv4 below /31 gets its broadcast address, as Go's netlink.AddrAdd sets it.
    const cidr = parseCidr(ip.address);
    const brd = cidr && cidr.ip.family === 4 && cidr.prefix < 31 ? ' brd +' : '';
    lines.push(`addr add ${ip.address}${brd} dev ${p.ifname}${nodad}`);
  }
  lines.push(`link set ${p.ifname} up`);
  const gws = defaultGateways(p.ips);
  for (const r of p.routes) lines.push(routeLine('add', r, p.ifname, gws[familyOfAddress(r.dst)]));
  return { sysctls, optionalSysctls: optional, lines };
}
