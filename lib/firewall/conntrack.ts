// Stale UDP conntrack entries of new host ports, removed on portmap ADD: UDP has no connection
// end, so an entry made before the mapping existed (or while it pointed at an earlier pod) keeps
// steering every later datagram of that flow past the new DNAT rule. As the reference does, every
// UDP entry of the family whose original destination port is the host port goes, whatever its
// addresses. The standalone build asks the kernel itself over ctnetlink (a dump filtered by the
// kernel to protocol and port, then one delete per entry, pinned by the entry's id); the Node
// build runs `conntrack -D` (conntrack-tools). Failures are reported on stderr, never fatal.
import { NetlinkError, netfilterQuery, available as netlinkAvailable } from '../kernel/netlink.ts';
import { AF, type Attr, type Message, message, NLM_F, parseAttrs, u8, u32 } from '../kernel/netlink-codec.ts';
import type { Family } from '../net/address.ts';
import { run } from '../platform/exec.ts';
import { ERRNO } from '../platform/libc.ts';
import { warn } from '../platform/output.ts';

const CTNETLINK = 1 << 8; // NFNL_SUBSYS_CTNETLINK, in the message type's high byte
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const CTA = { TUPLE_ORIG: 1, ID: 12, ZONE: 18, FILTER: 25 } as const;
const CTA_TUPLE_PROTO = 2;
const CTA_PROTO = { NUM: 1, DST_PORT: 3 } as const;
const CTA_FILTER_ORIG_FLAGS = 1;
const FILTER_PROTO_NUM = 1 << 3;
const FILTER_PROTO_DST_PORT = 1 << 5;
const NLA_F_NESTED = 0x8000;
const IPPROTO_UDP = 17;

const be16 = (n: number): Uint8Array => Uint8Array.of((n >> 8) & 0xff, n & 0xff);
const afOf = (family: Family): number => (family === 4 ? AF.INET : AF.INET6);
/** nfgenmsg: family, version 0, resource id 0. */
const nfgenmsg = (family: Family): Uint8Array => Uint8Array.of(afOf(family), 0, 0, 0);

// ---------------------------------------------------------------- messages (pure)

/** A dump of the family's entries; `port` set: only UDP to that original destination port (the kernel filters, 5.9+). */
export function dumpRequest(seq: number, family: Family, port?: number): Uint8Array {
  const attrs: Attr[] =
    port === undefined
      ? []
      : [
          [
            CTA.TUPLE_ORIG,
            [
              [
                CTA_TUPLE_PROTO,
                [
                  [CTA_PROTO.NUM, u8(IPPROTO_UDP)],
                  [CTA_PROTO.DST_PORT, be16(port)],
                ],
              ],
            ],
          ],
          [CTA.FILTER, [[CTA_FILTER_ORIG_FLAGS, u32(FILTER_PROTO_NUM | FILTER_PROTO_DST_PORT)]]],
        ];
  return message(CTNETLINK | IPCTNL_MSG_CT_GET, NLM_F.DUMP, seq, nfgenmsg(family), attrs);
}

/** One dumped entry: what a delete needs (the original tuple, its id and zone as sent) and what we filter on. */
export interface Entry {
  tuple: Uint8Array;
  id?: Uint8Array;
  zone?: Uint8Array;
  protocol?: number;
  dport?: number;
}

export function parseEntry(m: Message): Entry | undefined {
  const attrs = parseAttrs(m.payload, 4);
  const tuple = attrs.get(CTA.TUPLE_ORIG);
  if (!tuple) return undefined;
  const proto = parseAttrs(parseAttrs(tuple).get(CTA_TUPLE_PROTO) ?? new Uint8Array(0));
  const num = proto.get(CTA_PROTO.NUM);
  const dport = proto.get(CTA_PROTO.DST_PORT);
  return {
    tuple,
    id: attrs.get(CTA.ID),
    zone: attrs.get(CTA.ZONE),
    protocol: num?.[0],
    dport: dport && dport.length >= 2 ? (dport[0]! << 8) | dport[1]! : undefined,
  };
}

/** Delete exactly this entry: its original tuple (and zone), and its id, so a new entry of the same flow is not hit. */
export function deleteRequest(seq: number, family: Family, e: Entry): Uint8Array {
  const attrs: Attr[] = [[CTA.TUPLE_ORIG | NLA_F_NESTED, e.tuple]];
  if (e.zone) attrs.push([CTA.ZONE, e.zone]);
  if (e.id) attrs.push([CTA.ID, e.id]);
  return message(CTNETLINK | IPCTNL_MSG_CT_DELETE, NLM_F.ACK, seq, nfgenmsg(family), attrs);
}

export const isStaleUdp = (e: Entry, port: number): boolean => e.protocol === IPPROTO_UDP && e.dport === port;

// ---------------------------------------------------------------- kernel (thin shell)

function entriesTo(family: Family, port: number): Entry[] {
  let answers: Message[];
  try {
    answers = netfilterQuery((seq) => dumpRequest(seq, family, port));
  } catch (e) {
    // A kernel without dump filters: the whole family, filtered here.
    if (!(e instanceof NetlinkError) || (e.errno !== ERRNO.EINVAL && e.errno !== ERRNO.EOPNOTSUPP)) throw e;
    answers = netfilterQuery((seq) => dumpRequest(seq, family));
  }
  return answers.map(parseEntry).filter((x): x is Entry => !!x && isStaleUdp(x, port));
}

function flushWithNetlink(family: Family, port: number): void {
  for (const entry of entriesTo(family, port)) {
    try {
      netfilterQuery((seq) => deleteRequest(seq, family, entry));
    } catch (e) {
      if (!(e instanceof NetlinkError) || e.errno !== ERRNO.ENOENT) throw e; // gone meanwhile: fine
    }
  }
}

async function flushWithTool(family: Family, port: number): Promise<void> {
  const r = await run('conntrack', ['-D', '-f', family === 4 ? 'ipv4' : 'ipv6', '-p', 'udp', '--orig-port-dst', String(port)]);
  // Exit 1 with "0 flow entries have been deleted" is the common case: nothing was stale.
  if (r.code === 0 || / 0 flow entries/.test(r.stderr)) return;
  throw new Error(r.code === 127 ? 'conntrack (conntrack-tools) is not installed' : r.stderr.trim().split('\n')[0] || `exit ${r.code}`);
}

/** Remove the family's UDP entries to `ports`; a failure is logged (as the reference does), never thrown. */
export async function flushStaleUdp(family: Family, ports: number[], podIP: string): Promise<void> {
  for (const port of new Set(ports)) {
    try {
      if (netlinkAvailable()) flushWithNetlink(family, port);
      else await flushWithTool(family, port);
    } catch (e) {
      warn(`failed to delete stale UDP conntrack entries for ${podIP}: ${(e as Error).message}\n`);
      return;
    }
  }
}
