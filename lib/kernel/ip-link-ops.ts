// The `ip link` lines of lib/kernel/ip-ops.ts (see there), in a module of their own: they carry no
// IP addresses, so a batch of only link lines (a DEL's `link del`) is translated without loading
// the address parser (lib/net/address.ts, ip-num) that `addr` and `route` lines need.
import { concatBytes } from '../platform/bytes.ts';
import {
  type Attr,
  attrBytes,
  cstring,
  IFF,
  IFLA,
  IFLA_BR_VLAN_FILTERING,
  IFLA_BRPORT,
  IFLA_INFO,
  ifinfomsg,
  macBytes,
  NLM_F,
  RTM,
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
export const SCOPE_NAMES = new Map([
  ['global', 0],
  ['universe', 0],
  ['site', 200],
  ['link', 253],
  ['host', 254],
  ['nowhere', 255],
]);

/** `a b c` → key/value reader over the tokens. */
export class Tokens {
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

export const name = (s: string | undefined): string | undefined => (s && NAME_RE.test(s) ? s : undefined);
const mac = (s: string | undefined): string | undefined => (s && MAC_RE.test(s) ? s : undefined);
export const uint = (s: string | undefined): number | undefined =>
  s && UINT_RE.test(s) && Number(s) <= 0xffffffff ? Number(s) : undefined;

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

/** Is this an `ip link` line (one parseLinkLine understands, or hands to `ip`)? */
export const isLinkLine = (line: string): boolean => line.trim().startsWith('link ');

/** A `link add|set|del` line as a request; undefined for anything else. */
export function parseLinkLine(line: string): Op | undefined {
  const t = new Tokens(line.trim().split(/ +/));
  if (t.next() !== 'link') return undefined;
  const verb = t.next();
  if (verb === 'add') return linkAdd(t);
  if (verb === 'set') return linkSet(t);
  if (verb === 'del' || verb === 'delete') return linkDel(t);
  return undefined;
}
