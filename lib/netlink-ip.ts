// `ip -batch` and the `ip -json` queries the plugins make, answered over our own netlink socket
// (standalone build). Same inputs, same outputs and the same error texts as iproute2 where our
// callers look at them ("File exists", "Cannot find device", "No such device"), so lib/iproute.ts
// can use either. Forms we do not understand return undefined and go to `ip`.
import { parseLine, type Op } from './ip-ops.ts';
import { AF, IFLA, RTM, assembleLinks, cstring, decodeAddr, decodeLink, decodeRoute, ifinfomsg, type RawLink } from './netlink-codec.ts';
import { NetlinkError, dump, perform } from './netlink.ts';
import type { LinkInfo, RouteInfo } from './iproute.ts';

const ENODEV = 19;

function linkByName(netns: string, name: string): RawLink | undefined {
  try {
    const [m] = perform(netns, { type: RTM.GETLINK, flags: 0, fixed: ifinfomsg(), attrs: [[IFLA.IFNAME, cstring(name)]] });
    return m ? decodeLink(m.payload) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
    throw e;
  }
}

function linkByIndex(netns: string, index: number): RawLink | undefined {
  try {
    const [m] = perform(netns, { type: RTM.GETLINK, flags: 0, fixed: ifinfomsg(index), attrs: [] });
    return m ? decodeLink(m.payload) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
    throw e;
  }
}

/** Runs `lines` in order, stopping at the first failure: throws `{ line, text }`. Undefined when a line needs `ip`. */
export function runBatch(netns: string, lines: string[]): { failed?: { line: string; text: string } } | undefined {
  const ops: Op[] = [];
  for (const line of lines) {
    const op = parseLine(line);
    if (!op) return undefined;
    ops.push(op);
  }
  const ifindex = (name: string): number => {
    const link = linkByName(netns, name);
    if (!link) throw new NetlinkError(ENODEV, `Cannot find device "${name}"`);
    return link.ifindex;
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
const dumpAddrs = (netns: string) => dump(netns, RTM.GETADDR, Uint8Array.of(AF.UNSPEC, 0, 0, 0, 0, 0, 0, 0)).map((m) => decodeAddr(m.payload));

function dumpRoutes(netns: string, links: RawLink[]): RouteInfo[] {
  const names = new Map(links.map((l) => [l.ifindex, l.ifname]));
  return dump(netns, RTM.GETROUTE, new Uint8Array(12)).map((m) => decodeRoute(m.payload, (i) => names.get(i)));
}

/** One query (`link show`, `addr show`, `route show table all`, optionally `dev NAME` for links). */
function answer(netns: string, words: string[]): unknown[] | undefined {
  const [object, verb, ...rest] = words;
  if (verb !== 'show') return undefined;
  const dev = rest.length === 2 && rest[0] === 'dev' ? rest[1] : undefined;
  if (rest.length && !dev && !(object === 'route' && rest.join(' ') === 'table all')) return undefined;
  if (object === 'link' || object === 'addr' || object === 'address') {
    const withAddrs = object !== 'link';
    if (dev) {
      const link = linkByName(netns, dev);
      if (!link) return [];
      const master = link.masterIndex !== undefined ? linkByIndex(netns, link.masterIndex) : undefined;
      return assembleLinks(master ? [link, master] : [link], withAddrs ? dumpAddrs(netns) : undefined).slice(0, 1);
    }
    return assembleLinks(dumpLinks(netns), withAddrs ? dumpAddrs(netns) : undefined);
  }
  if (object === 'route' && !dev) return dumpRoutes(netns, dumpLinks(netns));
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
