// The `ip -batch` lines our plans produce, as rtnetlink requests (pure). Plans stay written in
// iproute2's language (readable, logged, runnable by hand, and executed by `ip` itself under
// Node); the standalone build sends the same changes over its own netlink socket instead of
// spawning `ip` (lib/kernel/netlink.ts). Only the forms the plans use are understood, with iproute2's
// defaults (route protocol "boot", scope "link" without a gateway, main table); anything else
// returns undefined and the whole batch goes to `ip`. Link lines are lib/kernel/ip-link-ops.ts.
import { ipBytes, parseIP } from '../net/address.ts';
import { name, type Op, parseLinkLine, SCOPE_NAMES, Tokens, uint } from './ip-link-ops.ts';
import { AF, type Attr, attrBytes, IFA, IFA_F, ifaddrmsg, NLM_F, RT_TABLE_MAIN, RTA, RTAX, RTM, rtmsg, u32 } from './netlink-codec.ts';

export type { Op, Request } from './ip-link-ops.ts';

/** The bytes of an address (network order); throws for anything lib/net/address.ts's strict parser rejects. */
export function addressBytes(ip: string): Uint8Array {
  const parsed = parseIP(ip);
  if (!parsed) throw new Error(`not an IP address: ${ip}`);
  const bytes = ipBytes(parsed);
  // lib/net/address.ts reads "::ffff:a.b.c.d" as IPv4 (as Go does); written in IPv6 notation, it stays IPv6 here.
  if (parsed.family === 4 && ip.includes(':')) return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...bytes]);
  return bytes;
}

function parseIp(s: string | undefined): { family: number; bytes: Uint8Array } | undefined {
  if (!s) return undefined;
  try {
    const bytes = addressBytes(s); // strict (lib/net/address.ts): anything iproute2 would refuse goes to iproute2
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
  if (object === 'link') return parseLinkLine(line);
  if (object === 'addr' || object === 'address') return addr(verb, t);
  if (object === 'route') return route(verb, t);
  return undefined;
}
