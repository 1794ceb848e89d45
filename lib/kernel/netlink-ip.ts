// Plans and queries over our own netlink socket (standalone build): the operations of
// lib/kernel/ip-ops.ts sent as rtnetlink requests, and the queries answered in the shapes
// `ip -json -details` prints (lib/kernel/shapes.ts), so lib/kernel/iproute.ts can use either path.

import { ERRNO } from '../platform/libc.ts';
import { type Answer, carriesAddresses, type IpOp, type KernelQuery, type PendingRequest, toRequest, UnencodableOp } from './ip-ops.ts';
import { dump, ifIndexOf, ifNameOf, NetlinkError, perform, socketFor } from './netlink.ts';
import {
  AF,
  type Attr,
  assembleLinks,
  cstring,
  decodeAddr,
  decodeLink,
  decodeRoute,
  IFLA,
  ifaddrmsg,
  ifinfomsg,
  type RawLink,
  RT_TABLE_MAIN,
  RTA,
  RTM,
  routeDstIs,
  rtmsg,
} from './netlink-codec.ts';
import type { RouteInfo } from './shapes.ts';

/** One link, by index or by name; undefined when there is none. */
function getLink(netns: string, by: { index: number } | { name: string }): RawLink | undefined {
  const attrs: Attr[] = 'name' in by ? [[IFLA.IFNAME, cstring(by.name)]] : [];
  try {
    const [m] = perform(netns, { type: RTM.GETLINK, flags: 0, fixed: ifinfomsg('index' in by ? by.index : 0), attrs });
    return m ? decodeLink(m.payload) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ERRNO.ENODEV) return undefined;
    throw e;
  }
}

/**
 * What became of a batch: all done; operation `failed` refused by the kernel (with its errno and
 * iproute2-like text); or operation `unencodable` not expressible here (it needs `ip`), in which
 * case nothing was sent.
 */
export type BatchOutcome = { done: true } | { failed: number; errno: number; text: string } | { unencodable: number; why: string };

/**
 * Runs `ops` in order, stopping at the first failure. Throws NetlinkError when the namespace
 * cannot be entered at all (lib/kernel/iproute.ts enters it first, to tell that case apart).
 * Address and route operations load the address encoder (and ip-num) first; link operations
 * alone (a DEL's) do without it.
 */
export async function runBatch(netns: string, ops: IpOp[]): Promise<BatchOutcome> {
  const encodeAddress = ops.some(carriesAddresses) ? (await import('./address-bytes.ts')).addressBytes : undefined;
  const requests: PendingRequest[] = [];
  for (const [i, op] of ops.entries()) {
    try {
      requests.push(toRequest(op, encodeAddress));
    } catch (e) {
      if (e instanceof UnencodableOp) return { unencodable: i, why: e.message };
      throw e;
    }
  }
  socketFor(netns); // enter the namespace first: failing that is no operation's failure
  const ifindex = (name: string): number => {
    const index = ifIndexOf(netns, name);
    if (index === undefined) throw new NetlinkError(ERRNO.ENODEV, `Cannot find device "${name}"`);
    return index;
  };
  for (const [i, request] of requests.entries()) {
    try {
      perform(netns, request(ifindex));
    } catch (e) {
      if (e instanceof NetlinkError) return { failed: i, errno: e.errno, text: e.text };
      throw e;
    }
  }
  return { done: true };
}

const dumpLinks = (netns: string): RawLink[] => dump(netns, RTM.GETLINK, ifinfomsg()).map((m) => decodeLink(m.payload));
/** Addresses of every link, or (kernel-side filter, strict checking) of one. */
const dumpAddrs = (netns: string, index = 0) =>
  dump(netns, RTM.GETADDR, ifaddrmsg(AF.UNSPEC, 0, 0, 0, index)).map((m) => decodeAddr(m.payload));

/**
 * Routes of one family (or all) and one table (or all), as `ip -json [-4|-6] route show table …`;
 * with `dst`, only those to exactly that prefix (`… exact DST`), picked out before decoding.
 */
function dumpRoutes(
  netns: string,
  family: number,
  table: number | undefined,
  dst?: { prefix: string; encode: (ip: string) => Uint8Array },
): RouteInfo[] {
  const names = new Map<number, string | undefined>();
  const nameOf = (i: number): string | undefined => {
    if (!names.has(i)) names.set(i, ifNameOf(netns, i));
    return names.get(i);
  };
  // The kernel filters by family and (strict checking on) by table; the table check below
  // covers kernels that ignore the filter.
  const request = rtmsg({ family, dstLen: 0, table: table ?? 0, protocol: 0, scope: 0, type: 0 });
  const wanted = dst === undefined ? undefined : exactPrefix(dst.prefix, dst.encode);
  const messages = dump(netns, RTM.GETROUTE, request);
  const routes = (wanted ? messages.filter((m) => routeDstIs(m.payload, wanted.bytes, wanted.prefix)) : messages).map((m) =>
    decodeRoute(m.payload, nameOf),
  );
  return table === RT_TABLE_MAIN ? routes.filter((r) => r.table === undefined) : routes;
}

const AF_OF = { 4: AF.INET, 6: AF.INET6 } as const;

/** "10.1.0.5/32" (or a bare address: a host prefix) as bytes and length; never matching when unparsable. */
function exactPrefix(dst: string, encode: (ip: string) => Uint8Array): { bytes: Uint8Array; prefix: number } {
  const [text, len] = dst.split('/');
  let bytes: Uint8Array;
  try {
    bytes = encode(text ?? '');
  } catch {
    return { bytes: new Uint8Array(0), prefix: -1 };
  }
  return { bytes, prefix: len === undefined ? bytes.length * 8 : Number(len) };
}

/** `ip route get ADDR`: the route the kernel would use to reach one address (RTM_GETROUTE). */
function routeGet(netns: string, to: string, encodeAddress: ((ip: string) => Uint8Array) | undefined): RouteInfo[] {
  let dst: Uint8Array | undefined;
  try {
    dst = encodeAddress?.(to);
  } catch {}
  if (!dst) throw new NetlinkError(ERRNO.EINVAL, `Error: any valid prefix is expected rather than "${to}".`);
  const v4 = dst.length === 4;
  const request = rtmsg({ family: AF_OF[v4 ? 4 : 6], dstLen: v4 ? 32 : 128, table: 0, protocol: 0, scope: 0, type: 0 });
  const [m] = perform(netns, { type: RTM.GETROUTE, flags: 0, fixed: request, attrs: [[RTA.DST, dst]] });
  return m ? [decodeRoute(m.payload, (i) => ifNameOf(netns, i))] : [];
}

/**
 * The answer to one query, as `ip -json -details` would print it. Throws NetlinkError.
 * `encodeAddress` (lib/kernel/address-bytes.ts) is needed by a route-get query only.
 */
export function answer<Q extends KernelQuery>(netns: string, q: Q, encodeAddress?: (ip: string) => Uint8Array): Answer<Q>;
export function answer(netns: string, q: KernelQuery, encodeAddress?: (ip: string) => Uint8Array): Answer<KernelQuery> {
  if (q.kind === 'links') {
    if (q.dev !== undefined) {
      const link = getLink(netns, { name: q.dev });
      if (!link) return [];
      const master = link.masterIndex !== undefined ? getLink(netns, { index: link.masterIndex }) : undefined;
      return assembleLinks(master ? [link, master] : [link], q.addresses ? dumpAddrs(netns, link.ifindex) : undefined).slice(0, 1);
    }
    return assembleLinks(dumpLinks(netns), q.addresses ? dumpAddrs(netns) : undefined);
  }
  if (q.kind === 'route-get') return routeGet(netns, q.to, encodeAddress);
  // Without an encoder for its prefix, a `dst` query answers the whole table: callers still pick
  // the routes to their destination, only not before decoding.
  const dst = q.dst !== undefined && encodeAddress ? { prefix: q.dst, encode: encodeAddress } : undefined;
  if (q.table === 'all') return dumpRoutes(netns, q.family ? AF_OF[q.family] : AF.UNSPEC, undefined, dst);
  // Like iproute2: a table without a family shows IPv4.
  return dumpRoutes(netns, AF_OF[q.family ?? 4], RT_TABLE_MAIN, dst);
}
