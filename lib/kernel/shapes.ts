// The kernel's objects as this code reads them, shared by both ways of asking: links (with their
// addresses) and routes in the shape `ip -json -details` prints them, which lib/kernel/netlink-codec.ts
// reproduces from netlink answers; where a command runs; route scopes and destinations.
// Types and small pure helpers only: every kernel module may import this one, and it imports none.
import type { Family } from '../net/address.ts';

/** Where to run: the plugin's own (host) namespace, or a netns path. */
export type Where = { netns?: string };
export const HOST: Where = {};

/** One address of a link, as in `ip -json addr show`'s `addr_info`. */
export interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope?: string;
  dadfailed?: boolean;
  tentative?: boolean;
}

export interface LinkInfo {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  operstate?: string;
  master?: string;
  link?: string;
  link_index?: number;
  link_netnsid?: number;
  promiscuity?: number;
  linkinfo?: {
    info_kind?: string;
    info_slave_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_data?: Record<string, unknown>;
  };
  /** Present when the query asked for addresses. */
  addr_info?: AddrInfo[];
}

export interface RouteInfo {
  /** "default", a bare address for a host route, or a CIDR (see routeDst). */
  dst: string;
  /** Absent for a unicast route; "local", "broadcast", "blackhole", "unreachable"… otherwise. */
  type?: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  protocol?: string;
  prefsrc?: string;
  metric?: number;
  /** Absent for the main table. */
  table?: string;
  flags?: string[];
}

/** Route scopes by iproute2's names (rtnetlink's rt_scope_t). */
export const RT_SCOPE = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 } as const;
export type RouteScopeName = keyof typeof RT_SCOPE;

/** The destination of a default route, per family. */
export const DEFAULT_DST: Record<Family, string> = { 4: '0.0.0.0/0', 6: '::/0' };

/** A route's destination as a CIDR: `ip -json route` writes "default" and bare host addresses. */
export function routeDst(r: RouteInfo, family: Family): string {
  if (r.dst === 'default') return DEFAULT_DST[family];
  return r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`;
}
