// The kernel changes our plans make, as typed operations (pure), and the queries we ask.
// A plan is a list of IpOp values with two renderings:
//  - toLine: the `ip -batch` line. The Node build runs it with `ip` itself; logs, errors and the
//    plan tests read it, and a human can run it by hand.
//  - toRequest: the rtnetlink request iproute2 would send for that line, with iproute2's
//    defaults (route protocol "boot", scope "link" without a gateway, main table). The standalone
//    build sends it over its own socket (lib/kernel/netlink.ts) instead of spawning `ip`.
// Every operation has both renderings, so the standalone never needs `ip` for a plan; a value
// the encoder cannot express (an unparsable address, a name the kernel would refuse) makes
// toRequest throw UnencodableOp, and the caller hands the batch to `ip`, saying so on stderr.
// Address and route operations encode their addresses with an AddressEncoder the caller passes
// (lib/kernel/address-bytes.ts): it needs ip-num, which link operations (a DEL's) do without.
import type { Family } from '../net/address.ts';
import { isMac } from '../net/mac.ts';
import { concatBytes } from '../platform/bytes.ts';
import {
  AF,
  type Attr,
  attrBytes,
  cstring,
  IFA,
  IFA_F,
  IFF,
  IFLA,
  IFLA_BR_VLAN_FILTERING,
  IFLA_BRPORT,
  IFLA_INFO,
  ifaddrmsg,
  ifinfomsg,
  macBytes,
  type NetlinkRequest,
  NLM_F,
  RT_TABLE_MAIN,
  RTA,
  RTAX,
  RTM,
  rtmsg,
  u8,
  u32,
  VETH_INFO_PEER,
} from './netlink-codec.ts';
import { type LinkInfo, type RouteInfo, type RouteScopeName, RT_SCOPE } from './shapes.ts';

// ---------------------------------------------------------------------------------------------
// operations

/** `add` must create (EEXIST otherwise), `replace` creates or replaces, `del` deletes. */
export type Verb = 'add' | 'replace' | 'del';

/** A new bridge (`link add NAME [address MAC] [mtu N] type bridge [vlan_filtering 0|1]`). */
export interface BridgeAdd {
  kind: 'bridge-add';
  name: string;
  mac?: string;
  mtu?: number;
  vlanFiltering?: boolean;
}

/** One end of a veth pair: name, MAC, mtu. */
export interface VethEnd {
  name: string;
  mac?: string;
  mtu?: number;
}

/** A new veth pair whose peer goes straight into the namespace of process `peer.netnsPid`. */
export interface VethAdd extends VethEnd {
  kind: 'veth-add';
  peer: VethEnd & { netnsPid?: number };
}

/** Attributes of an existing link (`link set DEV …`). */
export interface LinkSet {
  kind: 'link-set';
  dev: string;
  mac?: string;
  mtu?: number;
  master?: string;
  promisc?: boolean;
  up?: boolean;
}

/** Bridge port options of a link enslaved to a bridge (`link set dev DEV type bridge_slave …`). */
export interface BridgePortSet {
  kind: 'bridge-port';
  dev: string;
  hairpin?: boolean;
  isolated?: boolean;
}

export interface LinkDel {
  kind: 'link-del';
  dev: string;
}

export interface AddrOp {
  kind: 'addr';
  verb: Verb;
  /** "address/prefix" (a bare address is a host prefix). */
  cidr: string;
  dev: string;
  /** IPv4: the prefix's broadcast address (`brd +`). */
  broadcast?: boolean;
  /** IPv6: no duplicate address detection. */
  nodad?: boolean;
}

export interface RouteOp {
  kind: 'route';
  verb: Verb;
  /** A CIDR ("0.0.0.0/0" for the default route). */
  dst: string;
  via?: string;
  dev?: string;
  metric?: number;
  table?: number;
  scope?: RouteScopeName | number;
  src?: string;
  mtu?: number;
  advmss?: number;
}

export type IpOp = BridgeAdd | VethAdd | LinkSet | BridgePortSet | LinkDel | AddrOp | RouteOp;

// ---------------------------------------------------------------------------------------------
// toLine: the `ip -batch` line

const onOff = (b: boolean): string => (b ? 'on' : 'off');
const opt = (key: string, value: string | number | undefined): string => (value === undefined ? '' : ` ${key} ${value}`);
const endLine = (e: VethEnd): string => `${e.name}${opt('address', e.mac)}${opt('mtu', e.mtu)}`;

/** The `ip -batch` line of an operation (values are validated upstream: no whitespace, quotes or '#'). */
export function toLine(op: IpOp): string {
  switch (op.kind) {
    case 'bridge-add': {
      const vlan = op.vlanFiltering === undefined ? '' : ` vlan_filtering ${op.vlanFiltering ? 1 : 0}`;
      return `link add ${endLine(op)} type bridge${vlan}`;
    }
    case 'veth-add':
      return `link add ${endLine(op)} type veth peer name ${endLine(op.peer)}${opt('netns', op.peer.netnsPid)}`;
    case 'link-set': {
      const promisc = op.promisc === undefined ? '' : ` promisc ${onOff(op.promisc)}`;
      const up = op.up === undefined ? '' : op.up ? ' up' : ' down';
      return `link set ${op.dev}${opt('address', op.mac)}${opt('mtu', op.mtu)}${opt('master', op.master)}${promisc}${up}`;
    }
    case 'bridge-port': {
      const hairpin = op.hairpin === undefined ? '' : ` hairpin ${onOff(op.hairpin)}`;
      const isolated = op.isolated === undefined ? '' : ` isolated ${onOff(op.isolated)}`;
      return `link set dev ${op.dev} type bridge_slave${hairpin}${isolated}`;
    }
    case 'link-del':
      return `link del ${op.dev}`;
    case 'addr':
      return `addr ${op.verb} ${op.cidr}${op.broadcast ? ' brd +' : ''} dev ${op.dev}${op.nodad ? ' nodad' : ''}`;
    case 'route':
      return [
        `route ${op.verb} ${op.dst}`,
        opt('via', op.via),
        opt('dev', op.dev),
        opt('metric', op.metric),
        opt('table', op.table),
        opt('scope', op.scope),
        opt('src', op.src),
        opt('mtu', op.mtu),
        opt('advmss', op.advmss),
      ].join('');
  }
}

// ---------------------------------------------------------------------------------------------
// toRequest: the rtnetlink request

/** The request, once device names can be turned into indexes (`ifindex` throws for a missing one). */
export type PendingRequest = (ifindex: (name: string) => number) => NetlinkRequest;

/** A value the netlink encoder cannot express; `ip` gets the operation (and gives its own error). */
export class UnencodableOp extends Error {}

const NAME_RE = /^[^\s/]{1,15}$/;

function refuse(why: string): never {
  throw new UnencodableOp(why);
}
const checkedName = (s: string): string => (NAME_RE.test(s) ? s : refuse(`interface name "${s}"`));
const checkedMac = (s: string): Uint8Array => (isMac(s) ? macBytes(s) : refuse(`MAC address "${s}"`));
function checkedUint(n: number, max = 0xffffffff): number {
  return Number.isInteger(n) && n >= 0 && n <= max ? n : refuse(`number ${n}`);
}

interface Address {
  family: number;
  bytes: Uint8Array;
}
/** An address's bytes (network order); throws for anything lib/net/address.ts's strict parser rejects. */
export type AddressEncoder = (ip: string) => Uint8Array;

/** Does the operation carry addresses (and so need an AddressEncoder)? */
export const carriesAddresses = (op: IpOp): boolean => op.kind === 'addr' || op.kind === 'route';

function checkedIp(s: string, encode: AddressEncoder): Address {
  let bytes: Uint8Array;
  try {
    bytes = encode(s);
  } catch {
    refuse(`address "${s}"`);
  }
  return { family: bytes.length === 4 ? AF.INET : AF.INET6, bytes };
}
function checkedCidr(s: string, encode: AddressEncoder): Address & { prefix: number } {
  const [text, len, extra] = s.split('/');
  if (extra !== undefined || text === undefined) refuse(`prefix "${s}"`);
  const ip = checkedIp(text, encode);
  const max = ip.family === AF.INET ? 32 : 128;
  const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : -1;
  if (prefix < 0 || prefix > max) refuse(`prefix "${s}"`);
  return { ...ip, prefix };
}

/** The IPv4 broadcast of a prefix (`brd +`). */
function broadcastOf(bytes: Uint8Array, prefix: number): Uint8Array {
  return bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    return b | (0xff >> bits);
  });
}

/** `name [address MAC] [mtu N]`: the attributes shared by `link add` and a veth peer. */
function endAttrs(e: VethEnd): Attr[] {
  const attrs: Attr[] = [[IFLA.IFNAME, cstring(checkedName(e.name))]];
  if (e.mac !== undefined) attrs.push([IFLA.ADDRESS, checkedMac(e.mac)]);
  if (e.mtu !== undefined) attrs.push([IFLA.MTU, u32(checkedUint(e.mtu))]);
  return attrs;
}

function newLink(attrs: Attr[], info: Attr[]): PendingRequest {
  return () => ({ type: RTM.NEWLINK, flags: NLM_F.CREATE | NLM_F.EXCL, fixed: ifinfomsg(), attrs: [...attrs, [IFLA.LINKINFO, info]] });
}

function bridgeAdd(op: BridgeAdd): PendingRequest {
  const info: Attr[] = [[IFLA_INFO.KIND, cstring('bridge')]];
  if (op.vlanFiltering !== undefined) info.push([IFLA_INFO.DATA, [[IFLA_BR_VLAN_FILTERING, u8(op.vlanFiltering ? 1 : 0)]]]);
  return newLink(endAttrs(op), info);
}

function vethAdd(op: VethAdd): PendingRequest {
  const peer = endAttrs(op.peer);
  if (op.peer.netnsPid !== undefined) peer.push([IFLA.NET_NS_PID, u32(checkedUint(op.peer.netnsPid))]);
  // VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's attributes.
  const peerInfo = concatBytes([ifinfomsg(), attrBytes(peer)]);
  return newLink(endAttrs(op), [
    [IFLA_INFO.KIND, cstring('veth')],
    [IFLA_INFO.DATA, [[VETH_INFO_PEER, peerInfo]]],
  ]);
}

function linkSet(op: LinkSet): PendingRequest {
  let flags = 0;
  let change = 0;
  const attrs = endAttrs({ name: op.dev, mac: op.mac, mtu: op.mtu });
  if (op.promisc !== undefined) {
    change |= IFF.PROMISC;
    if (op.promisc) flags |= IFF.PROMISC;
  }
  if (op.up !== undefined) {
    change |= IFF.UP;
    if (op.up) flags |= IFF.UP;
  }
  const master = op.master === undefined ? undefined : checkedName(op.master);
  return (ifindex) => ({
    type: RTM.NEWLINK,
    flags: 0,
    fixed: ifinfomsg(0, flags, change),
    attrs: master === undefined ? attrs : [...attrs, [IFLA.MASTER, u32(ifindex(master))]],
  });
}

function bridgePort(op: BridgePortSet): PendingRequest {
  const data: Attr[] = [];
  if (op.hairpin !== undefined) data.push([IFLA_BRPORT.MODE, u8(op.hairpin ? 1 : 0)]);
  if (op.isolated !== undefined) data.push([IFLA_BRPORT.ISOLATED, u8(op.isolated ? 1 : 0)]);
  const attrs: Attr[] = [
    [IFLA.IFNAME, cstring(checkedName(op.dev))],
    [
      IFLA.LINKINFO,
      [
        [IFLA_INFO.SLAVE_KIND, cstring('bridge')],
        [IFLA_INFO.SLAVE_DATA, data],
      ],
    ],
  ];
  return () => ({ type: RTM.NEWLINK, flags: 0, fixed: ifinfomsg(0, 0, 0), attrs });
}

function linkDel(op: LinkDel): PendingRequest {
  const dev = checkedName(op.dev);
  return (ifindex) => ({ type: RTM.DELLINK, flags: 0, fixed: ifinfomsg(ifindex(dev)), attrs: [] });
}

function typeAndFlags(verb: Verb, newType: number, delType: number): { type: number; flags: number } {
  if (verb === 'add') return { type: newType, flags: NLM_F.CREATE | NLM_F.EXCL };
  if (verb === 'replace') return { type: newType, flags: NLM_F.CREATE | NLM_F.REPLACE };
  return { type: delType, flags: 0 };
}

function addr(op: AddrOp, encode: AddressEncoder): PendingRequest {
  const { type, flags } = typeAndFlags(op.verb, RTM.NEWADDR, RTM.DELADDR);
  const cidr = checkedCidr(op.cidr, encode);
  const dev = checkedName(op.dev);
  if (op.broadcast && cidr.family !== AF.INET) refuse('a broadcast address is IPv4 only');
  const attrs: Attr[] = [
    [IFA.LOCAL, cidr.bytes],
    [IFA.ADDRESS, cidr.bytes],
  ];
  // iproute2 computes `brd +` only up to /30 (a /31 or /32 has no broadcast address).
  if (op.broadcast && cidr.prefix <= 30) attrs.push([IFA.BROADCAST, broadcastOf(cidr.bytes, cidr.prefix)]);
  // iproute2 gives 127/8 host scope, everything else global (the kernel picks link for fe80::/10).
  const scope = cidr.family === AF.INET && cidr.bytes[0] === 127 ? RT_SCOPE.host : RT_SCOPE.global;
  const ifaFlags = op.nodad ? IFA_F.NODAD : 0;
  return (ifindex) => ({ type, flags, fixed: ifaddrmsg(cidr.family, cidr.prefix, ifaFlags, scope, ifindex(dev)), attrs });
}

function scopeNumber(scope: RouteScopeName | number): number {
  if (typeof scope === 'number') return checkedUint(scope, 255);
  return Object.hasOwn(RT_SCOPE, scope) ? RT_SCOPE[scope] : refuse(`scope "${scope}"`);
}

function route(op: RouteOp, encode: AddressEncoder): PendingRequest {
  const { type, flags } = typeAndFlags(op.verb, RTM.NEWROUTE, RTM.DELROUTE);
  const dst = checkedCidr(op.dst, encode);
  const sameFamily = (s: string): Uint8Array => {
    const a = checkedIp(s, encode);
    return a.family === dst.family ? a.bytes : refuse(`${s} is not of the family of ${op.dst}`);
  };
  const gateway = op.via === undefined ? undefined : sameFamily(op.via);
  const dev = op.dev === undefined ? undefined : checkedName(op.dev);
  const table = op.table === undefined ? RT_TABLE_MAIN : checkedUint(op.table);
  const attrs: Attr[] = [];
  const isDefault = dst.prefix === 0 && dst.bytes.every((x) => x === 0);
  if (!isDefault) attrs.push([RTA.DST, dst.bytes]);
  if (op.metric !== undefined) attrs.push([RTA.PRIORITY, u32(checkedUint(op.metric))]);
  if (op.src !== undefined) attrs.push([RTA.PREFSRC, sameFamily(op.src)]);
  if (gateway) attrs.push([RTA.GATEWAY, gateway]);
  if (table > 255) attrs.push([RTA.TABLE, u32(table)]);
  // RTA_METRICS is a nest of plain (not NLA_F_NESTED-flagged) attributes, as iproute2 sends it.
  const metrics: Attr[] = [];
  if (op.mtu !== undefined) metrics.push([RTAX.MTU, u32(checkedUint(op.mtu))]);
  if (op.advmss !== undefined) metrics.push([RTAX.ADVMSS, u32(checkedUint(op.advmss))]);
  if (metrics.length) attrs.push([RTA.METRICS, attrBytes(metrics)]);
  const isDel = op.verb === 'del';
  // iproute2's defaults: a route without a gateway is on-link (scope link); a delete matches any scope.
  const scope = op.scope !== undefined ? scopeNumber(op.scope) : isDel ? RT_SCOPE.nowhere : gateway ? RT_SCOPE.global : RT_SCOPE.link;
  const fixed = rtmsg({
    family: dst.family,
    dstLen: dst.prefix,
    table: table > 255 ? 0 : table,
    protocol: isDel ? 0 : 3, // RTPROT_BOOT
    scope,
    type: isDel ? 0 : 1, // RTN_UNICAST
  });
  return (ifindex) => ({ type, flags, fixed, attrs: dev === undefined ? attrs : [...attrs, [RTA.OIF, u32(ifindex(dev))]] });
}

/**
 * The netlink request of an operation; throws UnencodableOp for a value it cannot express.
 * `encodeAddress` is needed by address and route operations only (see the header).
 */
export function toRequest(op: IpOp, encodeAddress?: AddressEncoder): PendingRequest {
  if (carriesAddresses(op) && !encodeAddress) throw new Error(`${op.kind} operation without an address encoder`);
  const encode = encodeAddress as AddressEncoder;
  switch (op.kind) {
    case 'bridge-add':
      return bridgeAdd(op);
    case 'veth-add':
      return vethAdd(op);
    case 'link-set':
      return linkSet(op);
    case 'bridge-port':
      return bridgePort(op);
    case 'link-del':
      return linkDel(op);
    case 'addr':
      return addr(op, encode);
    case 'route':
      return route(op, encode);
  }
}

// ---------------------------------------------------------------------------------------------
// queries

/** Links (one, by name, or all), with their addresses when asked: `ip -json -details {link|addr} show [dev NAME]`. */
export interface LinkQuery {
  kind: 'links';
  dev?: string;
  addresses?: boolean;
}

/**
 * Routes of one family (or both) and the main table or all tables:
 * `ip -json [-4|-6] route show table main|all [exact DST]`. (iproute2 shows IPv4 only for a table
 * but no family, both for `table all`.)
 */
export interface RouteQuery {
  kind: 'routes';
  family?: Family;
  table: 'main' | 'all';
  /**
   * Only the routes to exactly this prefix ("10.1.0.5/32"): on a node with a route per pod, the
   * kernel still lists every route (it cannot filter a dump by destination) but nothing else is
   * decoded or named.
   */
  dst?: string;
}

/** The route the kernel would use to reach one address: `ip -json route get ADDR` (fails when there is none). */
export interface RouteGetQuery {
  kind: 'route-get';
  to: string;
}

export type KernelQuery = LinkQuery | RouteQuery | RouteGetQuery;

/** What a query returns. */
export type Answer<Q extends KernelQuery> = Q extends LinkQuery ? LinkInfo[] : RouteInfo[];

/** The `ip` arguments of a query (without `-json -details`). */
export function queryArgs(q: KernelQuery): string[] {
  if (q.kind === 'links') return [q.addresses ? 'addr' : 'link', 'show', ...(q.dev === undefined ? [] : ['dev', q.dev])];
  if (q.kind === 'route-get') return ['route', 'get', q.to];
  return [...(q.family ? [`-${q.family}`] : []), 'route', 'show', 'table', q.table, ...(q.dst === undefined ? [] : ['exact', q.dst])];
}
