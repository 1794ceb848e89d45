// CHECK support shared by interface plugins: compare what prevResult promises with the kernel's
// `ip -json` view of the pod namespace. Pure functions over parsed JSON.
import { CniError, ErrorCode } from '../cni/errors.ts';
import type { IPConfig, Route } from '../cni/types.ts';
import { ipEqual, parseCidr, parseIP } from '../net/address.ts';
import type { LinkInfo, RouteInfo } from './iproute.ts';

export const checkFailed = (msg: string): CniError => new CniError(ErrorCode.CheckFailed, msg);

/** `ip -json route` writes "default" and bare host addresses; turn both into CIDRs. */
export function routeDst(r: RouteInfo, family: 4 | 6): string {
  if (r.dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  return r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`;
}

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
