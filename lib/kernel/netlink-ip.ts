// `ip -batch` and the `ip -json` queries the plugins make, answered over our own netlink socket
// (standalone build). Same inputs, same outputs and the same error texts as iproute2 where our
// callers look at them ("File exists", "Cannot find device", "No such device"), so lib/kernel/iproute.ts
// can use either. Forms we do not understand return undefined and go to `ip`.
import { isLinkLine, type Op, parseLinkLine } from './ip-link-ops.ts';
import type { LinkInfo, RouteInfo } from './iproute.ts';
import { dump, ifIndexOf, ifNameOf, NetlinkError, perform } from './netlink.ts';
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
  RTM,
  rtmsg,
} from './netlink-codec.ts';

const ENODEV = 19;

/** One link, by index or by name; undefined when there is none. */
function getLink(netns: string, by: { index: number } | { name: string }): RawLink | undefined {
  const attrs: Attr[] = 'name' in by ? [[IFLA.IFNAME, cstring(by.name)]] : [];
  try {
    const [m] = perform(netns, { type: RTM.GETLINK, flags: 0, fixed: ifinfomsg('index' in by ? by.index : 0), attrs });
    return m ? decodeLink(m.payload) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
    throw e;
  }
}

/**
 * The translator for a batch: link lines alone need no address parser; a batch with address or
 * route lines loads lib/kernel/ip-ops.ts (and with it lib/net/address.ts and ip-num) first.
 */
async function parserFor(lines: string[]): Promise<(line: string) => Op | undefined> {
  return lines.every(isLinkLine) ? parseLinkLine : (await import('./ip-ops.ts')).parseLine;
}

/** Runs `lines` in order, stopping at the first failure, reported as `{failed: {line, text}}`. Undefined when a line needs `ip`. */
export async function runBatch(netns: string, lines: string[]): Promise<{ failed?: { line: string; text: string } } | undefined> {
  const parseLine = await parserFor(lines);
  const ops: Op[] = [];
  for (const line of lines) {
    const op = parseLine(line);
    if (!op) return undefined;
    ops.push(op);
  }
  const ifindex = (name: string): number => {
    const index = ifIndexOf(netns, name);
    if (index === undefined) throw new NetlinkError(ENODEV, `Cannot find device "${name}"`);
    return index;
  };
  for (let i = 0; i < ops.length; i++) {
    try {
      perform(netns, ops[i]!(ifindex));
    } catch (e) {
      if (e instanceof NetlinkError) return { failed: { line: lines[i]!, text: e.text } };
      throw e;
    }
  }
  return {};
}

const dumpLinks = (netns: string): RawLink[] => dump(netns, RTM.GETLINK, ifinfomsg()).map((m) => decodeLink(m.payload));
/** Addresses of every link, or (kernel-side filter, strict checking) of one. */
const dumpAddrs = (netns: string, index = 0) =>
  dump(netns, RTM.GETADDR, ifaddrmsg(AF.UNSPEC, 0, 0, 0, index)).map((m) => decodeAddr(m.payload));

/** Routes of one family (or all) and one table (or all), as `ip -json [-4|-6] route show table …`. */
function dumpRoutes(netns: string, family: number, table: number | undefined): RouteInfo[] {
  const names = new Map<number, string | undefined>();
  const nameOf = (i: number): string | undefined => {
    if (!names.has(i)) names.set(i, ifNameOf(netns, i));
    return names.get(i);
  };
  // The kernel filters by family and (strict checking on) by table; the table check below
  // covers kernels that ignore the filter.
  const request = rtmsg({ family, dstLen: 0, table: table ?? 0, protocol: 0, scope: 0, type: 0 });
  const routes = dump(netns, RTM.GETROUTE, request).map((m) => decodeRoute(m.payload, nameOf));
  return table === RT_TABLE_MAIN ? routes.filter((r) => r.table === undefined) : routes;
}

/**
 * One query: `link show`, `addr show` (optionally `dev NAME`), `route show table all|main`
 * (optionally after -4 or -6; `ip route show` without a family but with a table shows IPv4 only,
 * `table all` both).
 */
function answer(netns: string, args: string[]): unknown[] | undefined {
  const family = args[0] === '-4' ? AF.INET : args[0] === '-6' ? AF.INET6 : undefined;
  const [object, verb, ...rest] = family === undefined ? args : args.slice(1);
  if (verb !== 'show') return undefined;
  const dev = rest.length === 2 && rest[0] === 'dev' ? rest[1] : undefined;
  const table = object === 'route' && rest.length === 2 && rest[0] === 'table' ? rest[1] : undefined;
  if (rest.length && !dev && table !== 'all' && table !== 'main') return undefined;
  if (object === 'link' || object === 'addr' || object === 'address') {
    const withAddrs = object !== 'link';
    if (dev) {
      const link = getLink(netns, { name: dev });
      if (!link) return [];
      const master = link.masterIndex !== undefined ? getLink(netns, { index: link.masterIndex }) : undefined;
      return assembleLinks(master ? [link, master] : [link], withAddrs ? dumpAddrs(netns, link.ifindex) : undefined).slice(0, 1);
    }
    return assembleLinks(dumpLinks(netns), withAddrs ? dumpAddrs(netns) : undefined);
  }
  if (object === 'route' && table === 'all') return dumpRoutes(netns, family ?? AF.UNSPEC, undefined);
  if (object === 'route' && table === 'main') return dumpRoutes(netns, family ?? AF.INET, RT_TABLE_MAIN);
  return undefined;
}

/** `ip -json [-details] <args>`; undefined when the form is not one we answer. */
export function query(netns: string, args: string[]): Array<LinkInfo | RouteInfo> | undefined {
  const words = args.filter((a) => a !== '-details');
  return answer(netns, words) as Array<LinkInfo | RouteInfo> | undefined;
}

/** Several queries; undefined unless every one is answerable. */
export function queryBatch(netns: string, commands: string[]): unknown[][] | undefined {
  const out: unknown[][] = [];
  for (const c of commands) {
    const r = answer(netns, c.trim().split(/ +/));
    if (!r) return undefined;
    out.push(r);
  }
  return out;
}
