// CHECK support shared by interface plugins: compare what prevResult promises with the kernel's
// view of the pod namespace (lib/kernel/shapes.ts). Pure functions.
import { CniError, ErrorCode } from '../cni/errors.ts';
import type { Interface, IPConfig, Route } from '../cni/types.ts';
import { ipEqual, parseCidr, parseIP } from '../net/address.ts';
import { type LinkInfo, type RouteInfo, routeDst } from './shapes.ts';

export const checkFailed = (msg: string): CniError => new CniError(ErrorCode.CheckFailed, msg);

export function findLink(links: LinkInfo[], name: string): LinkInfo {
  const l = links.find((x) => x.ifname === name);
  if (!l) throw checkFailed(`interface "${name}" not found`);
  return l;
}

export function expectMac(link: LinkInfo, mac: string | undefined): void {
  if (mac && link.address?.toLowerCase() !== mac.toLowerCase()) {
    throw checkFailed(`interface "${link.ifname}" has MAC ${link.address}, expected ${mac}`);
  }
}

/** The pod's end of a veth pair (bridge, ptp): `ifname` among the pod's links, a veth, with prevResult's MAC. */
export function expectPodVeth(podLinks: LinkInfo[], ifname: string, mac: string | undefined): LinkInfo {
  const pod = findLink(podLinks, ifname);
  if (pod.linkinfo?.info_kind !== 'veth') throw checkFailed(`"${ifname}" is not a veth`);
  expectMac(pod, mac);
  return pod;
}

/** The host end of the pod's veth: its peer, and a host interface of prevResult. */
export function expectHostPeer(hostLinks: LinkInfo[], pod: LinkInfo, interfaces: readonly Interface[]): LinkInfo {
  const host = hostLinks.find((l) => l.ifindex === pod.link_index && interfaces.some((i) => i.name === l.ifname && !i.sandbox));
  if (!host) throw checkFailed(`no host veth of prevResult is the peer of "${pod.ifname}"`);
  return host;
}

export function expectAddresses(link: LinkInfo, ips: IPConfig[]): void {
  for (const ip of ips) {
    const want = parseCidr(ip.address)!;
    const found = (link.addr_info ?? []).some((a) => {
      const have = parseIP(a.local);
      return !!have && ipEqual(have, want.ip) && a.prefixlen === want.prefix;
    });
    if (!found) throw checkFailed(`address ${ip.address} not found on "${link.ifname}"`);
  }
}

/** Every promised route must exist (dst, and gw when given); extra routes are tolerated. */
export function expectRoutes(routes: RouteInfo[], wanted: Route[], fallbackGw: Partial<Record<4 | 6, string>> = {}): void {
  for (const w of wanted) {
    const dst = parseCidr(w.dst);
    if (!dst) continue;
    const fam = dst.ip.family;
    const gw = w.gw ?? fallbackGw[fam];
    const found = routes.some((r) => {
      const have = parseCidr(routeDst(r, fam));
      if (!have || have.ip.family !== fam || !ipEqual(have.ip, dst.ip) || have.prefix !== dst.prefix) return false;
      if (!gw) return true;
      const g = r.gateway ? parseIP(r.gateway) : null;
      return !!g && ipEqual(g, parseIP(gw)!);
    });
    if (!found) throw checkFailed(`route ${w.dst}${gw ? ` via ${gw}` : ''} not found`);
  }
}
