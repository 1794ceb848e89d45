// Pure planning for ptp: the addressing of each mode, the kernel operations for both ends of the
// veth (lib/kernel/ip-ops.ts), the sysctls, the host routes (with stale/conflict resolution) and the
// result; plus what CHECK expects to find. No I/O here.

import { chooseDns } from '../../lib/cni/attachments.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import type { DNS, Interface, IPConfig, Result, Route } from '../../lib/cni/types.ts';
import { type IpOp, type RouteOp, type RouteQuery, toLine } from '../../lib/kernel/ip-ops.ts';
import { DEFAULT_DST, type LinkInfo, type RouteInfo, RT_SCOPE, routeDst } from '../../lib/kernel/shapes.ts';
import type { Sysctls } from '../../lib/kernel/sysctl.ts';
import {
  bitsOf,
  contains,
  type Family,
  familyOfAddress,
  formatCidr,
  formatIP,
  ipEqual,
  networkOf,
  nextIP,
  parseCidr,
} from '../../lib/net/address.ts';
import type { PtpConfig, PtpMode } from './config.ts';

/** The container interface's index in the result: after the host veth (0). */
export const PTP_CONTAINER_INDEX = 1;

/** Routed mode's next hops: nobody owns 169.254.1.1 (proxy ARP answers); the v6 one is the host veth's link-local. */
export const ROUTED_GATEWAY: Record<Family, string> = { 4: '169.254.1.1', 6: 'fe80::ecee:eeff:feee:eeee' };
/** Routed mode's host veth MAC (Calico's): fixed, so the v6 link-local above is predictable. */
export const ROUTED_HOST_MAC = 'ee:ee:ee:ee:ee:ee';

export interface PtpAddressing {
  /** Result addresses on the container interface (routed mode: /32 and /128). */
  ips: IPConfig[];
  /** Result routes (routed mode: with their real next hop). */
  routes: Route[];
  /** The container's routes in install order (routed: the on-link route to the gateway first). */
  podRoutes: Route[];
  /** Reference mode: per address, replace the connected subnet route by a route via the gateway. */
  podGatewayOps: RouteOp[];
  /** Host veth addresses (reference mode: every gateway as /32 or /128; routed: the v6 link-local next hop). */
  hostAddresses: string[];
  /** Host routes to the pod: one host-prefix destination per pod address. */
  hostRouteDsts: string[];
  hostRouteScope: 'host' | 'link';
  /** IPAM's own CIDRs: masquerade exempts the pod subnet, as the reference does. */
  masqAddresses: string[];
}

/** The address as a host route destination (/32, /128). */
export const hostCidr = (address: string): string => {
  const c = parseCidr(address)!;
  return `${formatIP(c.ip)}/${bitsOf(c.ip.family)}`;
};

/** The gateway of one IPAM address: IPAM's, or the subnet's first address (as host-local would). */
function gatewayOf(ip: IPConfig): string {
  if (ip.gateway) return ip.gateway;
  const c = parseCidr(ip.address)!;
  if (c.prefix >= bitsOf(c.ip.family) - 1) {
    throw new CniError(ErrorCode.DelegateFailed, `IPAM returned ${ip.address} without a gateway; ptp routes the pod through one`);
  }
  return formatIP(nextIP(networkOf(c)));
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/** The addressing of either mode: the pod's addresses and routes, the host veth's, the host routes. */
export function planPtpAddressing(mode: PtpMode, ifname: string, ipam: Result): PtpAddressing {
  const ipamIps = ipam.ips ?? [];
  if (!ipamIps.length) throw new CniError(ErrorCode.DelegateFailed, 'IPAM plugin returned missing IP config');
  return mode === 'routed' ? planRouted(ipamIps, ipam.routes ?? []) : planReference(ifname, ipamIps, ipam.routes ?? []);
}

/**
 * Reference ptp: the pod keeps the IPAM prefix, but its connected route is replaced by
 * `<gw>/32 scope link` + `<subnet> via <gw>`, so even same-subnet traffic goes to the host,
 * which owns every gateway address on every ptp veth.
 */
function planReference(ifname: string, ipamIps: IPConfig[], ipamRoutes: Route[]): PtpAddressing {
  const ips = ipamIps.map((ip) => ({ address: ip.address, gateway: gatewayOf(ip), interface: PTP_CONTAINER_INDEX }));
  const podGatewayOps: RouteOp[] = [];
  for (const ip of ips) {
    const c = parseCidr(ip.address)!;
    const bits = bitsOf(c.ip.family);
    const src = formatIP(c.ip);
    const subnet = formatCidr({ ip: networkOf(c), prefix: c.prefix });
    if (c.prefix < bits) podGatewayOps.push({ kind: 'route', verb: 'del', dst: subnet, dev: ifname });
    podGatewayOps.push({ kind: 'route', verb: 'add', dst: `${ip.gateway}/${bits}`, dev: ifname, scope: 'link', src });
    if (c.prefix < bits) podGatewayOps.push({ kind: 'route', verb: 'add', dst: subnet, via: ip.gateway, dev: ifname, src });
  }
  return {
    ips,
    routes: [...ipamRoutes],
    podRoutes: [...ipamRoutes],
    // Two addresses of one subnet would delete and add its routes twice.
    podGatewayOps: [...new Map(podGatewayOps.map((op) => [toLine(op), op])).values()],
    hostAddresses: unique(ips.map((ip) => `${ip.gateway}/${bitsOf(familyOfAddress(ip.address)!)}`)),
    hostRouteDsts: unique(ips.map((ip) => hostCidr(ip.address))),
    hostRouteScope: 'host',
    masqAddresses: ipamIps.map((ip) => ip.address),
  };
}

/**
 * Routed (Calico) mode: /32 and /128 addresses, every route via the dummy next hop
 * (169.254.1.1 reached by proxy ARP; the host veth's fixed link-local for IPv6). IPAM routes are
 * used when given (their `gw` cannot apply: the pod has no connected subnet), otherwise a default
 * route per family.
 */
function planRouted(ipamIps: IPConfig[], ipamRoutes: Route[]): PtpAddressing {
  const families = familiesOf(ipamIps);
  const ips = ipamIps.map((ip) => ({
    address: hostCidr(ip.address),
    gateway: ROUTED_GATEWAY[familyOfAddress(ip.address)!],
    interface: PTP_CONTAINER_INDEX,
  }));
  const wanted = ipamRoutes.length ? ipamRoutes : families.map((f) => ({ dst: DEFAULT_DST[f] }));
  const routes = wanted
    .filter((r) => families.includes(familyOfAddress(r.dst)!))
    .map((r) => ({ ...r, gw: ROUTED_GATEWAY[familyOfAddress(r.dst)!] }));
  const onLink: Route[] = families.includes(4) ? [{ dst: `${ROUTED_GATEWAY[4]}/32`, scope: RT_SCOPE.link }] : [];
  return {
    ips,
    routes,
    podRoutes: [...onLink, ...routes],
    podGatewayOps: [],
    // The kernel would generate this link-local from the fixed MAC, but only once the carrier
    // event has been processed (asynchronously, up to ~1 s later); adding it now makes the
    // pod's IPv6 next hop answer from the first packet.
    hostAddresses: families.includes(6) ? [`${ROUTED_GATEWAY[6]}/64`] : [],
    hostRouteDsts: unique(ips.map((ip) => ip.address)),
    hostRouteScope: 'link',
    masqAddresses: ipamIps.map((ip) => ip.address),
  };
}

export function globalForwardingSysctls(families: Family[]): Sysctls {
  const out: Sysctls = {};
  if (families.includes(4)) out['net/ipv4/ip_forward'] = '1';
  if (families.includes(6)) out['net/ipv6/conf/all/forwarding'] = '1';
  return out;
}

export const familiesOf = (ips: IPConfig[]): Family[] => unique(ips.map((ip) => familyOfAddress(ip.address)!));

export interface SysctlPlan {
  sysctls: Sysctls;
  /** Tolerated failures (accept_ra and v6 knobs of a kernel without IPv6). */
  optional: string[];
}

/** Host veth sysctls: written before the link goes up, so the link-local is never tentative. */
export function hostVethSysctls(mode: PtpMode, hostVeth: string, families: Family[]): SysctlPlan {
  const v4 = `net/ipv4/conf/${hostVeth}`;
  const v6 = `net/ipv6/conf/${hostVeth}`;
  const sysctls: Sysctls = { [`${v6}/accept_ra`]: '0' };
  const optional = [`${v6}/accept_ra`];
  // DAD off: IPAM guarantees uniqueness, and a tentative gateway address stalls the pod ~1 s.
  sysctls[`${v6}/accept_dad`] = '0';
  if (!families.includes(6)) optional.push(`${v6}/accept_dad`);
  if (mode === 'routed') {
    if (families.includes(4)) {
      sysctls[`${v4}/proxy_arp`] = '1';
      sysctls[`net/ipv4/neigh/${hostVeth}/proxy_delay`] = '0';
      sysctls[`${v4}/forwarding`] = '1';
    }
    if (families.includes(6)) {
      sysctls[`${v6}/disable_ipv6`] = '0';
      sysctls[`${v6}/proxy_ndp`] = '1';
      sysctls[`${v6}/forwarding`] = '1';
    }
  }
  return { sysctls, optional };
}

/** Host side: link up, gateway addresses (reference mode); the routes come from planHostRoutes. */
export function planHostLink(hostVeth: string, addressing: PtpAddressing): IpOp[] {
  const ops: IpOp[] = [{ kind: 'link-set', dev: hostVeth, up: true }];
  for (const a of addressing.hostAddresses) {
    // `replace`: the same gateway address on a re-used name must not fail; nodad: see hostVethSysctls.
    ops.push({ kind: 'addr', verb: 'replace', cidr: a, dev: hostVeth, nodad: familyOfAddress(a) === 6 });
  }
  return ops;
}

/** The main-table routes (from `ip -json route show table all`) whose destination is exactly `dst`. */
export function routesTo(routes: RouteInfo[], dst: string): RouteInfo[] {
  const want = parseCidr(dst)!;
  return routes.filter((r) => {
    if (r.table !== undefined && r.table !== 'main') return false;
    if (r.type && ['local', 'broadcast', 'multicast', 'anycast'].includes(r.type)) return false;
    const have = parseCidr(routeDst(r, want.ip.family));
    return !!have && have.prefix === want.prefix && ipEqual(have.ip, want.ip);
  });
}

/**
 * Host routes to the pod addresses. A route already present for a destination is a conflict when
 * it leads to another live interface (up, with carrier), or nowhere (blackhole, unreachable); one
 * on a vanished, downed or carrier-less interface (e.g. a veth whose pod end is gone) is stale
 * and replaced.
 */
export function planHostRoutes(
  hostVeth: string,
  addressing: Pick<PtpAddressing, 'hostRouteDsts' | 'hostRouteScope'>,
  routes: RouteInfo[],
  links: LinkInfo[],
): RouteOp[] {
  return addressing.hostRouteDsts.map((dst) => {
    // IPv6 has no route scopes (the kernel ignores them).
    const scope = familyOfAddress(dst) === 6 ? undefined : addressing.hostRouteScope;
    const found = routesTo(routes, dst);
    for (const r of found) {
      if (r.dev === hostVeth) continue;
      const link = r.dev ? links.find((l) => l.ifname === r.dev) : undefined;
      // Live = up with a carrier: a route via a link without one delivers nothing.
      const flags = link?.flags ?? [];
      const live = !r.dev || (flags.includes('UP') && flags.includes('LOWER_UP'));
      if (live) {
        const via = r.dev ? `interface "${r.dev}"` : `a ${r.type ?? 'device-less'} route`;
        throw new CniError(
          ErrorCode.RouteConflict,
          `route to ${dst} already exists for ${via}, not "${hostVeth}"`,
          'another live attachment or the administrator owns this address; remove that route or the other interface',
        );
      }
    }
    return { kind: 'route', verb: found.length ? 'replace' : 'add', dst, dev: hostVeth, scope };
  });
}

/** The route queries planHostRoutes needs: the main table of each family in use. */
export const hostRouteQueries = (families: Family[]): RouteQuery[] => families.map((family) => ({ kind: 'routes', family, table: 'main' }));

/**
 * Interfaces of routes already leading to our destinations through another device: only their
 * state (up, carrier) matters to planHostRoutes, so only they are looked up.
 */
export function devicesInTheWay(hostVeth: string, addressing: Pick<PtpAddressing, 'hostRouteDsts'>, routes: RouteInfo[]): string[] {
  const devs = addressing.hostRouteDsts.flatMap((dst) => routesTo(routes, dst).map((r) => r.dev));
  return unique(devs.filter((d): d is string => d !== undefined && d !== hostVeth));
}

export function buildPtpResult(args: {
  cfg: PtpConfig;
  hostVeth: string;
  hostMac: string;
  ifname: string;
  containerMac: string;
  netns: string;
  addressing: PtpAddressing;
  ipamDns?: DNS;
}): Result {
  const interfaces: Interface[] = [
    { name: args.hostVeth, mac: args.hostMac },
    { name: args.ifname, mac: args.containerMac, sandbox: args.netns },
  ];
  const result: Result = { cniVersion: '1.1.0', interfaces, ips: args.addressing.ips };
  if (args.addressing.routes.length) result.routes = args.addressing.routes;
  const dns = chooseDns(args.cfg.raw.dns, args.ipamDns);
  if (dns) result.dns = dns;
  return result;
}

// ---- CHECK expectations, derived from prevResult alone ----

/** Routes the container must have beyond prevResult's: the gateway plumbing of each mode. */
export function expectedPodGatewayRoutes(mode: PtpMode, ips: IPConfig[]): Route[] {
  if (mode === 'routed') {
    return familiesOf(ips).includes(4) ? [{ dst: `${ROUTED_GATEWAY[4]}/32` }] : [];
  }
  const out: Route[] = [];
  for (const ip of ips) {
    const c = parseCidr(ip.address)!;
    const bits = bitsOf(c.ip.family);
    if (!ip.gateway) continue;
    out.push({ dst: `${ip.gateway}/${bits}` });
    if (c.prefix < bits) out.push({ dst: formatCidr({ ip: networkOf(c), prefix: c.prefix }), gw: ip.gateway });
  }
  return out;
}

/** Host-side state CHECK expects for the attachment. */
export function expectedHostState(
  mode: PtpMode,
  hostVeth: string,
  ips: IPConfig[],
): {
  addresses: string[];
  routeDsts: string[];
  sysctls: Sysctls;
} {
  const fams = familiesOf(ips);
  const routeDsts = unique(ips.map((ip) => hostCidr(ip.address)));
  if (mode === 'routed') {
    const { sysctls, optional } = hostVethSysctls('routed', hostVeth, fams);
    for (const k of optional) delete sysctls[k];
    delete sysctls[`net/ipv6/conf/${hostVeth}/accept_dad`];
    return { addresses: [], routeDsts, sysctls: { ...sysctls, ...globalForwardingSysctls(fams) } };
  }
  const addresses = unique(ips.filter((ip) => ip.gateway).map((ip) => `${ip.gateway}/${bitsOf(familyOfAddress(ip.address)!)}`));
  return { addresses, routeDsts, sysctls: globalForwardingSysctls(fams) };
}

/**
 * The addresses masquerade was set up with, recovered from prevResult for CHECK. ADD uses IPAM's
 * CIDRs (so the pod subnet is exempt, as in the reference); the routed mode's result only has
 * /32 and /128, so the subnet is looked up in the config's ranges (`ipam.ranges`, `ipam.subnet`,
 * `runtimeConfig.ipRanges`); an address in none of them stays a host prefix.
 */
export function masqAddressesOf(
  mode: PtpMode,
  ips: IPConfig[],
  raw: { ipam?: Record<string, unknown>; runtimeConfig?: { ipRanges?: Array<Array<{ subnet: string }>> } },
): string[] {
  if (mode === 'reference') return ips.map((ip) => ip.address);
  const subnets: string[] = [];
  const ranges = raw.ipam?.ranges;
  if (Array.isArray(ranges))
    for (const set of ranges) if (Array.isArray(set)) for (const r of set) if (typeof r?.subnet === 'string') subnets.push(r.subnet);
  if (typeof raw.ipam?.subnet === 'string') subnets.push(raw.ipam.subnet);
  for (const set of raw.runtimeConfig?.ipRanges ?? []) for (const r of set) subnets.push(r.subnet);
  const parsed = subnets.map((s) => parseCidr(s)).filter((c): c is NonNullable<typeof c> => !!c);
  return ips.map((ip) => {
    const c = parseCidr(ip.address)!;
    const subnet = parsed.find((s) => s.ip.family === c.ip.family && contains(s, c.ip));
    return subnet ? `${formatIP(c.ip)}/${subnet.prefix}` : ip.address;
  });
}
