// Pure planning of the container side of an attachment: sysctls, addresses, link up, routes
// (what the reference's ipam.ConfigureIface does), shared by bridge and ptp.

import type { IPConfig, Route } from '../cni/types.ts';
import { type Family, familyOfAddress, parseCidr, parseIP } from '../net/address.ts';
import type { IpOp, RouteOp, Verb } from './ip-ops.ts';
import { RT_SCOPE } from './shapes.ts';
import type { Sysctls } from './sysctl.ts';

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
  ops: IpOp[];
}

/** The first gateway of each family, used for routes that carry no `gw`. */
export function defaultGateways(ips: IPConfig[]): Partial<Record<Family, string>> {
  const out: Partial<Record<Family, string>> = {};
  for (const ip of ips) {
    const fam = familyOfAddress(ip.address)!;
    if (ip.gateway && !out[fam]) out[fam] = ip.gateway;
  }
  return out;
}

/** The operation installing one result route on `dev`; `gw` is the gateway of a route without one. */
function routeOp(verb: Verb, r: Route, dev: string, gw?: string): RouteOp {
  // A link-scope route (e.g. routed ptp's on-link route to its next hop) never takes the fallback gateway.
  const via = r.gw ?? (r.scope === RT_SCOPE.link ? undefined : gw);
  return {
    kind: 'route',
    verb,
    dst: r.dst,
    ...(via && parseIP(via) ? { via } : {}),
    dev,
    metric: r.priority,
    table: r.table,
    scope: r.scope,
    mtu: r.mtu,
    advmss: r.advmss,
  };
}

/** A container interface without addresses (bridge without IPAM) is only brought up. */
export const planPodLinkUp = (ifname: string): IpOp[] => [{ kind: 'link-set', dev: ifname, up: true }];

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
  const ops: IpOp[] = [];
  for (const ip of p.ips) {
    const cidr = parseCidr(ip.address);
    ops.push({
      kind: 'addr',
      verb: 'add',
      cidr: ip.address,
      // IPv4 below /31 gets its broadcast address, as Go's netlink.AddrAdd sets it.
      broadcast: !!cidr && cidr.ip.family === 4 && cidr.prefix < 31,
      dev: p.ifname,
      nodad: familyOfAddress(ip.address) === 6 && p.dad === 'off',
    });
  }
  ops.push(...planPodLinkUp(p.ifname));
  const gws = defaultGateways(p.ips);
  for (const r of p.routes) ops.push(routeOp('add', r, p.ifname, gws[familyOfAddress(r.dst)!]));
  return { sysctls, optionalSysctls: optional, ops };
}
