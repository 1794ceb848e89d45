// The `ip -batch` lines our plans produce, as rtnetlink requests (pure). Plans stay written in
// iproute2's language (readable, logged, runnable by hand, and executed by `ip` itself under
// Node); the standalone build sends the same changes over its own netlink socket instead of
// spawning `ip` (lib/kernel/netlink.ts). Only the forms the plans use are understood, with iproute2's
// defaults (route protocol "boot", scope "link" without a gateway, main table); anything else
// returns undefined and the whole batch goes to `ip`.
import { concatBytes } from '../platform/bytes.ts';
import {
  AF,
  type Attr,
  addressBytes,
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

export interface Request {
  type: number;
  flags: number;
  fixed: Uint8Array;
  attrs: Attr[];
}

/** Builds the request once device names can be turned into indexes (throws for a missing one). */
export type Op = (ifindex: (name: string) => number) => Request;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const NAME_RE = /^[^\s/]{1,15}$/;
const UINT_RE = /^\d{1,10}$/;
const SCOPE_NAMES = new Map([
  ['global', 0],
  ['universe', 0],
  ['site', 200],
  ['link', 253],
  ['host', 254],
  ['nowhere', 255],
]);

/** `a b c` → key/value reader over the tokens. */
class Tokens {
  private i = 0;
  constructor(private readonly t: string[]) {}
  next(): string | undefined {
    return this.t[this.i++];
  }
  peek(): string | undefined {
    return this.t[this.i];
  }
  get done(): boolean {
    return this.i >= this.t.length;
  }
}

const name = (s: string | undefined): string | undefined => (s && NAME_RE.test(s) ? s : undefined);
const mac = (s: string | undefined): string | undefined => (s && MAC_RE.test(s) ? s : undefined);
const uint = (s: string | undefined): number | undefined => (s && UINT_RE.test(s) && Number(s) <= 0xffffffff ? Number(s) : undefined);

function parseIp(s: string | undefined): { family: number; bytes: Uint8Array } | undefined {
  if (!s) return undefined;
  try {
    const bytes = addressBytes(s); // strict (lib/ip): anything iproute2 would refuse goes to iproute2
    return { family: bytes.length === 4 ? AF.INET : AF.INET6, bytes };
  } catch {
    return undefined;
  }
}

function parseCidr(s: string | undefined): { family: number; bytes: Uint8Array; prefix: number } | undefined {
  if (!s) return undefined;
  const [text, len, extra] = s.split('/');
  if (extra !== undefined) return undefined;
  const ip = parseIp(text);
  if (!ip) return undefined;
  const max = ip.family === AF.INET ? 32 : 128;
  const prefix = len === undefined ? max : uint(len);
  if (prefix === undefined || prefix > max) return undefined;
  return { ...ip, prefix };
}

/** The IPv4 broadcast of a prefix (`brd +`). */
function broadcastOf(bytes: Uint8Array, prefix: number): Uint8Array {
  return bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    return b | (0xff >> bits);
  });
}

// ---------------------------------------------------------------------------------------------
// link

/** `name [address MAC] [mtu N]` — the common head of `link add` and of a veth peer. */
function linkHead(t: Tokens): { attrs: Attr[] } | undefined {
  const ifname = name(t.next());
  if (!ifname) return undefined;
  const attrs: Attr[] = [[IFLA.IFNAME, cstring(ifname)]];
  while (t.peek() === 'address' || t.peek() === 'mtu') {
    const key = t.next();
    const value = t.next();
    if (key === 'address') {
      const m = mac(value);
      if (!m) return undefined;
      attrs.push([IFLA.ADDRESS, macBytes(m)]);
    } else {
      const n = uint(value);
      if (n === undefined) return undefined;
      attrs.push([IFLA.MTU, u32(n)]);
    }
  }
  return { attrs };
}

function linkAdd(t: Tokens): Op | undefined {
  const head = linkHead(t);
  if (!head || t.next() !== 'type') return undefined;
  const kind = t.next();
  if (kind === 'bridge') {
    const data: Attr[] = [];
    if (t.peek() === 'vlan_filtering') {
      t.next();
      const v = t.next();
      if (v !== '0' && v !== '1') return undefined;
      data.push([IFLA_BR_VLAN_FILTERING, u8(Number(v))]);
    }
    if (!t.done) return undefined;
    const info: Attr[] = [[IFLA_INFO.KIND, cstring('bridge')]];
    if (data.length) info.push([IFLA_INFO.DATA, data]);
    return () => ({
      type: RTM.NEWLINK,
      flags: NLM_F.CREATE | NLM_F.EXCL,
      fixed: ifinfomsg(),
      attrs: [...head.attrs, [IFLA.LINKINFO, info]],
    });
  }
  if (kind === 'veth') {
    if (t.next() !== 'peer' || t.next() !== 'name') return undefined;
    const peer = linkHead(t);
    if (!peer) return undefined;
    if (t.peek() === 'netns') {
      t.next();
      const pid = uint(t.next());
      if (pid === undefined) return undefined;
      peer.attrs.push([IFLA.NET_NS_PID, u32(pid)]);
    }
    if (!t.done) return undefined;
    // VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's attributes.
    const peerInfo = concatBytes([ifinfomsg(), attrBytes(peer.attrs)]);
    const info: Attr[] = [
      [IFLA_INFO.KIND, cstring('veth')],
      [IFLA_INFO.DATA, [[VETH_INFO_PEER, peerInfo]]],
    ];
    return () => ({
      type: RTM.NEWLINK,
      flags: NLM_F.CREATE | NLM_F.EXCL,
      fixed: ifinfomsg(),
      attrs: [...head.attrs, [IFLA.LINKINFO, info]],
    });
  }
  return undefined;
}

function linkSet(t: Tokens): Op | undefined {
  if (t.peek() === 'dev') t.next();
  const ifname = name(t.next());
  if (!ifname) return undefined;
  let flags = 0;
  let change = 0;
  const attrs: Attr[] = [[IFLA.IFNAME, cstring(ifname)]];
  let master: string | undefined;
  while (!t.done) {
    const key = t.next();
    if (key === 'up' || key === 'down') {
      change |= IFF.UP;
      if (key === 'up') flags |= IFF.UP;
    } else if (key === 'promisc') {
      const v = t.next();
      if (v !== 'on' && v !== 'off') return undefined;
      change |= IFF.PROMISC;
      if (v === 'on') flags |= IFF.PROMISC;
    } else if (key === 'master') {
      master = name(t.next());
      if (!master) return undefined;
    } else if (key === 'address') {
      const m = mac(t.next());
      if (!m) return undefined;
      attrs.push([IFLA.ADDRESS, macBytes(m)]);
    } else if (key === 'mtu') {
      const n = uint(t.next());
      if (n === undefined) return undefined;
      attrs.push([IFLA.MTU, u32(n)]);
    } else if (key === 'type') {
      if (t.next() !== 'bridge_slave') return undefined;
      const data: Attr[] = [];
      while (!t.done) {
        const flag = t.next();
        const v = t.next();
        if (v !== 'on' && v !== 'off') return undefined;
        if (flag === 'hairpin') data.push([IFLA_BRPORT.MODE, u8(v === 'on' ? 1 : 0)]);
        else if (flag === 'isolated') data.push([IFLA_BRPORT.ISOLATED, u8(v === 'on' ? 1 : 0)]);
        else return undefined;
      }
      attrs.push([
        IFLA.LINKINFO,
        [
          [IFLA_INFO.SLAVE_KIND, cstring('bridge')],
          [IFLA_INFO.SLAVE_DATA, data],
        ],
      ]);
    } else {
      return undefined;
    }
  }
  return (ifindex) => ({
    type: RTM.NEWLINK,
    flags: 0,
    fixed: ifinfomsg(0, flags, change),
    attrs: master === undefined ? attrs : [...attrs, [IFLA.MASTER, u32(ifindex(master))]],
  });
}

function linkDel(t: Tokens): Op | undefined {
  if (t.peek() === 'dev') t.next();
  const ifname = name(t.next());
  if (!ifname || !t.done) return undefined;
  return (ifindex) => ({ type: RTM.DELLINK, flags: 0, fixed: ifinfomsg(ifindex(ifname)), attrs: [] });
}

// ---------------------------------------------------------------------------------------------
// addr

/** `add` must create (EEXIST otherwise), `replace` creates or replaces, `del` deletes. */
function requestFor(verb: string | undefined, newType: number, delType: number): { type: number; flags: number } | undefined {
  if (verb === 'add') return { type: newType, flags: NLM_F.CREATE | NLM_F.EXCL };
  if (verb === 'replace') return { type: newType, flags: NLM_F.CREATE | NLM_F.REPLACE };
  if (verb === 'del') return { type: delType, flags: 0 };
  return undefined;
}

function addr(verb: string | undefined, t: Tokens): Op | undefined {
  const request = requestFor(verb, RTM.NEWADDR, RTM.DELADDR);
  if (!request) return undefined;
  const { type, flags } = request;
  const cidr = parseCidr(t.next());
  if (!cidr) return undefined;
  let dev: string | undefined;
  let ifaFlags = 0;
  let broadcast: Uint8Array | undefined;
  while (!t.done) {
    const key = t.next();
    if (key === 'dev') dev = name(t.next());
    else if (key === 'nodad') ifaFlags |= IFA_F.NODAD;
    // iproute2 computes `brd +` only up to /30 (a /31 or /32 has no broadcast address).
    else if ((key === 'brd' || key === 'broadcast') && t.next() === '+' && cidr.family === AF.INET)
      broadcast = cidr.prefix <= 30 ? broadcastOf(cidr.bytes, cidr.prefix) : undefined;
    else return undefined;
  }
  if (!dev) return undefined;
  const device = dev;
  const attrs: Attr[] = [
    [IFA.LOCAL, cidr.bytes],
    [IFA.ADDRESS, cidr.bytes],
  ];
  if (broadcast) attrs.push([IFA.BROADCAST, broadcast]);
  // iproute2 gives 127/8 host scope, everything else global (the kernel picks link for fe80::/10).
  const scope = cidr.family === AF.INET && cidr.bytes[0] === 127 ? 254 : 0;
  return (ifindex) => ({ type, flags, fixed: ifaddrmsg(cidr.family, cidr.prefix, ifaFlags, scope, ifindex(device)), attrs });
}

// ---------------------------------------------------------------------------------------------
// route

function route(verb: string | undefined, t: Tokens): Op | undefined {
  const request = requestFor(verb, RTM.NEWROUTE, RTM.DELROUTE);
  if (!request) return undefined;
  const { type, flags } = request;
  const dst = parseCidr(t.next());
  if (!dst) return undefined;
  let gateway: Uint8Array | undefined;
  let dev: string | undefined;
  let scope: number | undefined;
  let table = RT_TABLE_MAIN;
  const attrs: Attr[] = [];
  const metrics: Attr[] = [];
  while (!t.done) {
    const key = t.next();
    const value = t.next();
    if (key === 'via') {
      const gw = parseIp(value);
      if (!gw || gw.family !== dst.family) return undefined;
      gateway = gw.bytes;
    } else if (key === 'dev') {
      dev = name(value);
      if (!dev) return undefined;
    } else if (key === 'src') {
      const src = parseIp(value);
      if (!src || src.family !== dst.family) return undefined;
      attrs.push([RTA.PREFSRC, src.bytes]);
    } else if (key === 'scope') {
      scope = (value !== undefined ? SCOPE_NAMES.get(value) : undefined) ?? uint(value);
      if (scope === undefined || scope > 255) return undefined;
    } else if (key === 'metric') {
      const n = uint(value);
      if (n === undefined) return undefined;
      attrs.push([RTA.PRIORITY, u32(n)]);
    } else if (key === 'table') {
      const n = value === 'main' ? RT_TABLE_MAIN : uint(value);
      if (n === undefined) return undefined;
      table = n;
    } else if (key === 'mtu' || key === 'advmss') {
      const n = uint(value);
      if (n === undefined) return undefined;
      metrics.push([key === 'mtu' ? RTAX.MTU : RTAX.ADVMSS, u32(n)]);
    } else {
      return undefined;
    }
  }
  const isDel = type === RTM.DELROUTE;
  // iproute2's defaults: a route without a gateway is on-link (scope link); a delete matches any scope.
  const routeScope = scope ?? (isDel ? 255 : gateway ? 0 : 253);
  if (dst.prefix > 0 || !isDefault(dst.bytes)) attrs.unshift([RTA.DST, dst.bytes]);
  if (gateway) attrs.push([RTA.GATEWAY, gateway]);
  if (table > 255) attrs.push([RTA.TABLE, u32(table)]);
  if (metrics.length) attrs.push([RTA.METRICS, metricsBytes(metrics)]);
  const device = dev;
  return (ifindex) => ({
    type,
    flags,
    fixed: rtmsg({
      family: dst.family,
      dstLen: dst.prefix,
      table: table > 255 ? 0 : table,
      protocol: isDel ? 0 : 3,
      scope: routeScope,
      type: isDel ? 0 : 1,
    }),
    attrs: device === undefined ? attrs : [...attrs, [RTA.OIF, u32(ifindex(device))]],
  });
}

const isDefault = (b: Uint8Array): boolean => b.every((x) => x === 0);
/** RTA_METRICS is a nest of plain (not NLA_F_NESTED-flagged) attributes, as iproute2 sends it. */
const metricsBytes = (metrics: Attr[]): Uint8Array => attrBytes(metrics);

// ---------------------------------------------------------------------------------------------

/** The request for one batch line, or undefined when this line needs `ip` itself. */
export function parseLine(line: string): Op | undefined {
  const t = new Tokens(line.trim().split(/ +/));
  const object = t.next();
  const verb = t.next();
  if (object === 'link') {
    if (verb === 'add') return linkAdd(t);
    if (verb === 'set') return linkSet(t);
    if (verb === 'del' || verb === 'delete') return linkDel(t);
    return undefined;
  }
  if (object === 'addr' || object === 'address') return addr(verb, t);
  if (object === 'route') return route(verb, t);
  return undefined;
}
