// rtnetlink messages, pure: encoding requests and decoding the kernel's answers into the shapes
// `ip -json` prints (lib/kernel/shapes.ts), so code written against iproute2's JSON works unchanged
// on either path (lib/kernel/iproute.ts picks one). Layouts: linux/netlink.h, rtnetlink.h, if_link.h,
// if_addr.h. Host byte order is little-endian (x86-64, arm64: the only targets we build for).
import { formatIPv6Groups } from '../net/ip-text.ts';
import { concatBytes } from '../platform/bytes.ts';
import { type AddrInfo, type LinkInfo, type RouteInfo, RT_SCOPE } from './shapes.ts';

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
} as const;
export const NLM_F = { REQUEST: 1, MULTI: 2, ACK: 4, DUMP: 0x300, REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400 } as const;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;

export const IFLA = {
  ADDRESS: 1,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  MASTER: 10,
  OPERSTATE: 16,
  LINKINFO: 18,
  NET_NS_PID: 19,
  PROMISCUITY: 30,
  LINK_NETNSID: 37,
} as const;
export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const IFLA_BRPORT = { MODE: 4, ISOLATED: 33 } as const;
export const IFLA_BR_VLAN_FILTERING = 7;
export const VETH_INFO_PEER = 1;
export const IFA = { ADDRESS: 1, LOCAL: 2, BROADCAST: 4, FLAGS: 8 } as const;
export const IFA_F = { NODAD: 0x02, DADFAILED: 0x08, TENTATIVE: 0x40 } as const;
export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, METRICS: 8, TABLE: 15 } as const;
export const RTAX = { MTU: 2, ADVMSS: 8 } as const;
export const IFF = { UP: 0x1, PROMISC: 0x100 } as const;
export const AF = { UNSPEC: 0, INET: 2, INET6: 10 } as const;
export const RT_TABLE_MAIN = 254;

// ---------------------------------------------------------------------------------------------
// encoding

const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute, or a nested one when `value` is a list of attributes. */
export type Attr = [type: number, value: Uint8Array | Attr[]];

/** A request before framing: message type, NLM_F_* flags, the fixed header, the attributes. */
export interface NetlinkRequest {
  type: number;
  flags: number;
  fixed: Uint8Array;
  attrs: Attr[];
}

export function attrBytes(attrs: Attr[]): Uint8Array {
  const parts = attrs.map(([type, value]) => {
    const payload = Array.isArray(value) ? attrBytes(value) : value;
    const out = new Uint8Array(align4(4 + payload.length));
    const v = new DataView(out.buffer);
    v.setUint16(0, 4 + payload.length, true);
    v.setUint16(2, type | (Array.isArray(value) ? 0x8000 : 0), true); // NLA_F_NESTED
    out.set(payload, 4);
    return out;
  });
  return concatBytes(parts);
}

export const u8 = (n: number): Uint8Array => Uint8Array.of(n);
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}
export const cstring = (s: string): Uint8Array => concatBytes([new TextEncoder().encode(s), Uint8Array.of(0)]);
export const macBytes = (mac: string): Uint8Array => Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));

/** ifinfomsg: family, type, index, flags, change. */
export function ifinfomsg(index = 0, flags = 0, change = 0): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setInt32(4, index, true);
  v.setUint32(8, flags, true);
  v.setUint32(12, change, true);
  return b;
}

export function ifaddrmsg(family: number, prefixlen: number, flags: number, scope: number, index: number): Uint8Array {
  const b = Uint8Array.of(family, prefixlen, flags & 0xff, scope, 0, 0, 0, 0);
  new DataView(b.buffer).setUint32(4, index, true);
  return b;
}

export function rtmsg(r: { family: number; dstLen: number; table: number; protocol: number; scope: number; type: number }): Uint8Array {
  return Uint8Array.of(r.family, r.dstLen, 0, 0, r.table, r.protocol, r.scope, r.type, 0, 0, 0, 0);
}

/** A complete netlink message (header + fixed part + attributes). */
export function message(type: number, flags: number, seq: number, fixed: Uint8Array, attrs: Attr[] = []): Uint8Array {
  const body = concatBytes([fixed, attrBytes(attrs)]);
  const out = new Uint8Array(16 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags | NLM_F.REQUEST, true);
  v.setUint32(8, seq, true);
  out.set(body, 16);
  return out;
}

// ---------------------------------------------------------------------------------------------
// decoding

export interface Message {
  type: number;
  flags: number;
  seq: number;
  payload: Uint8Array;
}

/** Split a received datagram into messages. */
export function splitMessages(buf: Uint8Array): Message[] {
  const out: Message[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = v.getUint32(off, true);
    if (len < 16 || off + len > buf.length) break;
    out.push({
      type: v.getUint16(off + 4, true),
      flags: v.getUint16(off + 6, true),
      seq: v.getUint32(off + 8, true),
      payload: buf.subarray(off + 16, off + len),
    });
    off += align4(len);
  }
  return out;
}

export const isDone = (m: Message): boolean => m.type === NLMSG_DONE;
/** The errno of an NLMSG_ERROR (0 = the ACK of a success); undefined for other messages. */
export function errnoOf(m: Message): number | undefined {
  if (m.type !== NLMSG_ERROR) return undefined;
  return -new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, true);
}

/** Attributes after a fixed-size header, by type (the nested flag stripped). */
export function parseAttrs(buf: Uint8Array, from = 0): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = from;
  while (off + 4 <= buf.length) {
    const len = v.getUint16(off, true);
    if (len < 4 || off + len > buf.length) break;
    out.set(v.getUint16(off + 2, true) & 0x3fff, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

const readU32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
const readI32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
const readString = (b: Uint8Array): string => new TextDecoder().decode(b.subarray(0, b.indexOf(0) >= 0 ? b.indexOf(0) : b.length));
const formatMac = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');

/** An address as iproute2 prints it (IPv6 in RFC 5952 form, lib/net/address.ts's formatter). */
export function formatAddress(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  // IPv4-mapped (::ffff:a.b.c.d) keeps its IPv6 prefix here (lib/net/address.ts prints it as IPv4, as Go does).
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b.subarray(12).join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  return formatIPv6Groups(groups);
}

const FLAG_NAMES: Array<[number, string]> = [
  [0x8, 'LOOPBACK'],
  [0x2, 'BROADCAST'],
  [0x10, 'POINTOPOINT'],
  [0x1000, 'MULTICAST'],
  [0x80, 'NOARP'],
  [0x200, 'ALLMULTI'],
  [0x100, 'PROMISC'],
  [0x400, 'MASTER'],
  [0x800, 'SLAVE'],
  [0x1, 'UP'],
  [0x10000, 'LOWER_UP'],
  [0x20000, 'DORMANT'],
];
const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

/** Raw link: `master` and `link` are still indexes (resolved to names by decodeLinks). */
export interface RawLink extends Omit<LinkInfo, 'master'> {
  masterIndex?: number;
}

export function decodeLink(payload: Uint8Array): RawLink {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const index = v.getInt32(4, true);
  const flags = v.getUint32(8, true);
  const a = parseAttrs(payload, 16);
  const names = FLAG_NAMES.filter(([bit]) => flags & bit).map(([, n]) => n);
  if (flags & IFF.UP && !(flags & 0x40)) names.unshift('NO-CARRIER'); // up without IFF_RUNNING
  const link: RawLink = { ifindex: index, ifname: a.has(IFLA.IFNAME) ? readString(a.get(IFLA.IFNAME)!) : '', flags: names };
  if (a.has(IFLA.MTU)) link.mtu = readU32(a.get(IFLA.MTU)!);
  if (a.has(IFLA.MASTER)) link.masterIndex = readU32(a.get(IFLA.MASTER)!);
  if (a.has(IFLA.OPERSTATE)) link.operstate = OPERSTATES[a.get(IFLA.OPERSTATE)![0]!] ?? 'UNKNOWN';
  if (a.has(IFLA.ADDRESS)) link.address = formatMac(a.get(IFLA.ADDRESS)!);
  if (a.has(IFLA.PROMISCUITY)) link.promiscuity = readU32(a.get(IFLA.PROMISCUITY)!);
  if (a.has(IFLA.LINK)) link.link_index = readU32(a.get(IFLA.LINK)!);
  if (a.has(IFLA.LINK_NETNSID)) link.link_netnsid = readI32(a.get(IFLA.LINK_NETNSID)!);
  const info = a.get(IFLA.LINKINFO);
  if (info) {
    const i = parseAttrs(info);
    link.linkinfo = {};
    if (i.has(IFLA_INFO.KIND)) link.linkinfo.info_kind = readString(i.get(IFLA_INFO.KIND)!);
    if (i.has(IFLA_INFO.SLAVE_KIND)) link.linkinfo.info_slave_kind = readString(i.get(IFLA_INFO.SLAVE_KIND)!);
  }
  return link;
}

const SCOPES: Record<number, string> = Object.fromEntries(Object.entries(RT_SCOPE).map(([name, n]) => [n, name]));

export interface RawAddr {
  index: number;
  info: AddrInfo;
}

export function decodeAddr(payload: Uint8Array): RawAddr {
  const family = payload[0]!;
  const a = parseAttrs(payload, 8);
  const flags = a.has(IFA.FLAGS) ? readU32(a.get(IFA.FLAGS)!) : payload[2]!;
  const local = a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS);
  const info: RawAddr['info'] = {
    family: family === AF.INET ? 'inet' : family === AF.INET6 ? 'inet6' : String(family),
    local: local ? formatAddress(local) : '',
    prefixlen: payload[1]!,
    scope: SCOPES[payload[3]!] ?? String(payload[3]),
  };
  if (flags & IFA_F.TENTATIVE) info.tentative = true;
  if (flags & IFA_F.DADFAILED) info.dadfailed = true;
  return { index: new DataView(payload.buffer, payload.byteOffset + 4, 4).getUint32(0, true), info };
}

/** Links with their master resolved to a name and (optionally) their addresses attached, as `ip -json` prints them. */
export function assembleLinks(raw: RawLink[], addrs?: RawAddr[]): LinkInfo[] {
  const byIndex = new Map(raw.map((l) => [l.ifindex, l.ifname]));
  return raw.map(({ masterIndex, ...l }) => {
    const out: LinkInfo = { ...l };
    if (masterIndex !== undefined && byIndex.has(masterIndex)) out.master = byIndex.get(masterIndex);
    if (addrs) out.addr_info = addrs.filter((x) => x.index === l.ifindex).map((x) => x.info);
    return out;
  });
}

const ROUTE_TYPES = [
  'unspec',
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
  'xresolve',
];
const PROTOCOLS: Record<number, string> = {
  1: 'redirect',
  2: 'kernel',
  3: 'boot',
  4: 'static',
  16: 'dhcp',
  186: 'bgp',
  188: 'ospf',
  189: 'rip',
};
const TABLES: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };

/** A route as `ip -json route show table all` prints it (dev resolved by `linkName`). */
export function decodeRoute(payload: Uint8Array, linkName: (index: number) => string | undefined): RouteInfo {
  const [family, dstLen, , , tableByte, protocol, scope, type] = payload;
  const a = parseAttrs(payload, 12);
  const table = a.has(RTA.TABLE) ? readU32(a.get(RTA.TABLE)!) : tableByte!;
  const maxLen = family === AF.INET6 ? 128 : 32;
  const dstAttr = a.get(RTA.DST);
  const r: RouteInfo = {
    dst: dstAttr ? formatAddress(dstAttr) + (dstLen === maxLen ? '' : `/${dstLen}`) : dstLen === 0 ? 'default' : `/${dstLen}`,
  };
  if (type !== 1) r.type = ROUTE_TYPES[type!] ?? String(type);
  if (a.has(RTA.GATEWAY)) r.gateway = formatAddress(a.get(RTA.GATEWAY)!);
  if (a.has(RTA.OIF)) r.dev = linkName(readU32(a.get(RTA.OIF)!)) ?? `if${readU32(a.get(RTA.OIF)!)}`;
  if (table !== RT_TABLE_MAIN) r.table = TABLES[table] ?? String(table);
  r.protocol = PROTOCOLS[protocol!] ?? String(protocol);
  if (scope !== 0) r.scope = SCOPES[scope!] ?? String(scope);
  if (a.has(RTA.PREFSRC)) r.prefsrc = formatAddress(a.get(RTA.PREFSRC)!);
  if (a.has(RTA.PRIORITY)) r.metric = readU32(a.get(RTA.PRIORITY)!);
  r.flags = [];
  return r;
}
