// nf_tables over netlink, pure: the messages `nft` sends (tables, chains, rules and the expressions
// inside them, in nft's own linearisation) and the decoding of the kernel's answers. Layouts:
// linux/netfilter/nfnetlink.h and nf_tables.h. Every integer nf_tables defines is big-endian, unlike
// rtnetlink's; the netlink header around it stays in host order (lib/kernel/netlink-codec.ts).
//
// Expressions are data (`Expr`), encoded for a request and decoded from a dump into the same shape,
// so CHECK compares what a rule does with what we would have written, expression by expression,
// and a rule that holds anything we do not model decodes to `unknown` instead of being guessed at.
import { CniError, ErrorCode } from '../../cni/errors.ts';
import { type Attr, attrBytes, parseAttrs } from '../../kernel/netlink-codec.ts';
import { concatBytes } from '../../platform/bytes.ts';

export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;

export const NFT_MSG = {
  NEWTABLE: 0,
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  DELCHAIN: 5,
  NEWRULE: 6,
  GETRULE: 7,
  DELRULE: 8,
} as const;

/** nfgenmsg.nfgen_family: the nf_tables table families. */
export const NFPROTO = { inet: 1, ip: 2, bridge: 7, ip6: 10 } as const;
export type TableFamily = keyof typeof NFPROTO;

const NLM_F_REQUEST = 1;
export const NLM_F_ACK = 4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
const NLM_F_DUMP = 0x300;

const TABLE = { NAME: 1, FLAGS: 2, USERDATA: 6 } as const;
const CHAIN = { TABLE: 1, NAME: 3, HOOK: 4, POLICY: 5, USE: 6, TYPE: 7, USERDATA: 12 } as const;
const HOOK = { NUM: 1, PRIORITY: 2 } as const;
const RULE = { TABLE: 1, CHAIN: 2, HANDLE: 3, EXPRESSIONS: 4, USERDATA: 7 } as const;
const LIST_ELEM = 1;
const EXPR = { NAME: 1, DATA: 2 } as const;
const DATA = { VALUE: 1, VERDICT: 2 } as const;
const VERDICT = { CODE: 1, CHAIN: 2 } as const;
/** The comment in a table's, chain's or rule's user data (libnftnl's NFTNL_UDATA_*_COMMENT). */
const UDATA_COMMENT = 0;

/** Netfilter hook numbers (the same for ip, ip6, inet and bridge). */
export const HOOK_NUM = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 } as const;
export const META_KEY = { mark: 3, iifname: 6, oifname: 7, nfproto: 15, l4proto: 16 } as const;
/** IP protocol numbers of the transport headers nft matches on. */
export const L4PROTO = { tcp: 6, udp: 17, sctp: 132 } as const;
export type L4Proto = keyof typeof L4PROTO;
/** nft_fib: what is looked up (NFT_FIB_RESULT_*) and from which address (NFTA_FIB_F_*). */
export const FIB_RESULT = { oif: 1, oifname: 2, addrtype: 3 } as const;
export const FIB_FLAG = { saddr: 1, daddr: 2, mark: 4, iif: 8, oif: 16 } as const;
/** Route types (RTN_*) as `fib … type` compares them. */
export const RTN = { unicast: 1, local: 2 } as const;
export const NAT_TYPE = { snat: 0, dnat: 1 } as const;
/** NF_NAT_RANGE_*: the nat expression rewrites the address (the kernel adds this one) and the port. */
export const NAT_FLAG = { mapIPs: 1, protoSpecified: 2 } as const;
export const PAYLOAD_BASE = { link: 0, network: 1, transport: 2 } as const;
export const CMP_OP = { eq: 0, neq: 1 } as const;
export const VERDICT_CODE = { drop: 0, accept: 1, jump: -3, goto: -4, return: -5 } as const;
export type VerdictName = keyof typeof VERDICT_CODE;
/** NFT_REG_VERDICT and NFT_REG_1, the registers nft uses for these expressions. */
const REG_VERDICT = 0;
export const REG1 = 1;
export const REG2 = 2;

// ---------------------------------------------------------------------------------------------
// big-endian scalars and user data

export function be32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}
export function be64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}
const readBe32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
const readBe64 = (b: Uint8Array): number => Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0));
const cstr = (s: string): Uint8Array => new TextEncoder().encode(`${s}\0`);
/**
 * A NUL-terminated string. ASCII (names, hashes, container IDs: nearly always) is read natively:
 * the standalone runtime's TextDecoder is JavaScript, and a dump of 250 rules has 250 comments.
 */
function readCstr(b: Uint8Array): string {
  const end = b.indexOf(0);
  const s = end >= 0 ? b.subarray(0, end) : b;
  for (let i = 0; i < s.length; i++) if (s[i]! > 0x7f) return new TextDecoder().decode(s);
  return String.fromCharCode.apply(null, s as unknown as number[]);
}

/** Whether nf_tables can store `comment` (its user data holds at most 254 bytes and a NUL). */
export const commentFits = (comment: string): boolean => cstr(comment).length <= 255;

/** libnftnl's user-data TLV list holding one comment: type, length (with the NUL), text, NUL. */
export function commentUdata(comment: string): Uint8Array {
  const text = cstr(comment);
  if (text.length > 255) throw new CniError(ErrorCode.FirewallFailed, `nftables comment longer than 254 bytes: ${comment.slice(0, 40)}…`);
  return concatBytes([Uint8Array.of(UDATA_COMMENT, text.length), text]);
}

/** The comment in a user-data TLV list; undefined when there is none. */
export function udataComment(b: Uint8Array): string | undefined {
  for (let off = 0; off + 2 <= b.length; off += 2 + b[off + 1]!) {
    if (b[off] === UDATA_COMMENT) return readCstr(b.subarray(off + 2, off + 2 + b[off + 1]!));
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// expressions

export type Expr =
  | { kind: 'meta'; key: number; dreg: number }
  | { kind: 'payload'; base: number; offset: number; len: number; dreg: number }
  | { kind: 'cmp'; sreg: number; op: number; data: Uint8Array }
  | { kind: 'bitwise'; sreg: number; dreg: number; mask: Uint8Array; xor: Uint8Array }
  | { kind: 'verdict'; verdict: VerdictName; chain?: string }
  | { kind: 'immediate'; dreg: number; data: Uint8Array }
  | { kind: 'fib'; result: number; flags: number; dreg: number }
  | { kind: 'nat'; type: number; family: number; addrReg?: number; protoReg?: number; flags?: number }
  | { kind: 'masq' }
  | { kind: 'unknown'; name: string };

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** One line per expression, in the spirit of `nft --debug=netlink`: what CHECK compares and errors show. */
export function exprText(e: Expr): string {
  switch (e.kind) {
    case 'meta':
      return `meta load ${e.key} => reg ${e.dreg}`;
    case 'payload':
      return `payload load ${e.len}b @ base ${e.base} + ${e.offset} => reg ${e.dreg}`;
    case 'cmp':
      return `cmp ${e.op} reg ${e.sreg} ${hex(e.data)}`;
    case 'bitwise':
      return `bitwise reg ${e.dreg} = (reg ${e.sreg} & ${hex(e.mask)}) ^ ${hex(e.xor)}`;
    case 'verdict':
      return `immediate ${e.verdict}${e.chain === undefined ? '' : ` -> ${e.chain}`}`;
    case 'immediate':
      return `immediate reg ${e.dreg} ${hex(e.data)}`;
    case 'fib':
      return `fib result ${e.result} flags ${e.flags} => reg ${e.dreg}`;
    case 'nat':
      return `nat ${e.type} family ${e.family} addr reg ${e.addrReg ?? '-'} proto reg ${e.protoReg ?? '-'} flags ${e.flags ?? '-'}`;
    case 'masq':
      return 'masq';
    case 'unknown':
      return `unknown ${e.name}`;
  }
}

const dataValue = (b: Uint8Array): Attr[] => [[DATA.VALUE, b]];

function exprAttrs(e: Expr): [name: string, data: Attr[]] {
  switch (e.kind) {
    case 'meta':
      return [
        'meta',
        [
          [2, be32(e.key)],
          [1, be32(e.dreg)],
        ],
      ];
    case 'payload':
      return [
        'payload',
        [
          [1, be32(e.dreg)],
          [2, be32(e.base)],
          [3, be32(e.offset)],
          [4, be32(e.len)],
        ],
      ];
    case 'cmp':
      return [
        'cmp',
        [
          [1, be32(e.sreg)],
          [2, be32(e.op)],
          [3, dataValue(e.data)],
        ],
      ];
    case 'bitwise':
      return [
        'bitwise',
        [
          [1, be32(e.sreg)],
          [2, be32(e.dreg)],
          [3, be32(e.mask.length)],
          [4, dataValue(e.mask)],
          [5, dataValue(e.xor)],
        ],
      ];
    case 'verdict': {
      const verdict: Attr[] = [[VERDICT.CODE, be32(VERDICT_CODE[e.verdict])]];
      if (e.chain !== undefined) verdict.push([VERDICT.CHAIN, cstr(e.chain)]);
      return [
        'immediate',
        [
          [1, be32(REG_VERDICT)],
          [2, [[DATA.VERDICT, verdict]]],
        ],
      ];
    }
    case 'immediate':
      return [
        'immediate',
        [
          [1, be32(e.dreg)],
          [2, dataValue(e.data)],
        ],
      ];
    case 'fib':
      // nft's order: flags, result, register.
      return [
        'fib',
        [
          [3, be32(e.flags)],
          [2, be32(e.result)],
          [1, be32(e.dreg)],
        ],
      ];
    case 'nat': {
      const attrs: Attr[] = [
        [1, be32(e.type)],
        [2, be32(e.family)],
      ];
      if (e.addrReg !== undefined) attrs.push([3, be32(e.addrReg)]);
      if (e.protoReg !== undefined) attrs.push([5, be32(e.protoReg)]);
      if (e.flags !== undefined) attrs.push([7, be32(e.flags)]);
      return ['nat', attrs];
    }
    case 'masq':
      return ['masq', []];
    case 'unknown':
      throw new Error(`cannot encode an unknown expression (${e.name})`);
  }
}

export const exprsAttr = (exprs: readonly Expr[]): Attr =>
  [
    RULE.EXPRESSIONS,
    exprs.map((e): Attr => {
      const [name, data] = exprAttrs(e);
      return [
        LIST_ELEM,
        [
          [EXPR.NAME, cstr(name)],
          [EXPR.DATA, data],
        ],
      ];
    }),
  ] as Attr;

const VERDICT_NAMES = new Map<number, VerdictName>(Object.entries(VERDICT_CODE).map(([k, v]) => [v >>> 0, k as VerdictName]));

function nestedValue(b: Uint8Array | undefined, type: number): Uint8Array | undefined {
  return b ? parseAttrs(b).get(type) : undefined;
}

/** One expression as the kernel dumps it; anything outside `Expr` becomes `unknown`. */
export function decodeExpr(elem: Uint8Array): Expr {
  const a = parseAttrs(elem);
  const name = readCstr(a.get(EXPR.NAME) ?? new Uint8Array());
  const d = parseAttrs(a.get(EXPR.DATA) ?? new Uint8Array());
  const u32 = (t: number): number | undefined => (d.has(t) ? readBe32(d.get(t)!) : undefined);
  const unknown: Expr = { kind: 'unknown', name };
  switch (name) {
    case 'meta': {
      const [key, dreg] = [u32(2), u32(1)];
      return key === undefined || dreg === undefined ? unknown : { kind: 'meta', key, dreg };
    }
    case 'payload': {
      const [dreg, base, offset, len] = [u32(1), u32(2), u32(3), u32(4)];
      if (dreg === undefined || base === undefined || offset === undefined || len === undefined || d.has(5)) return unknown;
      return { kind: 'payload', dreg, base, offset, len };
    }
    case 'cmp': {
      const [sreg, op, data] = [u32(1), u32(2), nestedValue(d.get(3), DATA.VALUE)];
      return sreg === undefined || op === undefined || !data ? unknown : { kind: 'cmp', sreg, op, data };
    }
    case 'bitwise': {
      // Only the mask-and-xor form (NFT_BITWISE_BOOL, op 0), which is all nft writes for prefixes.
      const [sreg, dreg, op] = [u32(1), u32(2), u32(6) ?? 0];
      const [mask, xor] = [nestedValue(d.get(4), DATA.VALUE), nestedValue(d.get(5), DATA.VALUE)];
      return sreg === undefined || dreg === undefined || op !== 0 || !mask || !xor ? unknown : { kind: 'bitwise', sreg, dreg, mask, xor };
    }
    case 'immediate': {
      const dreg = u32(1);
      if (dreg !== undefined && dreg !== REG_VERDICT) {
        const data = nestedValue(d.get(2), DATA.VALUE);
        return data ? { kind: 'immediate', dreg, data } : unknown;
      }
      const verdict = dreg === REG_VERDICT ? nestedValue(d.get(2), DATA.VERDICT) : undefined;
      if (!verdict) return unknown;
      const v = parseAttrs(verdict);
      const code = v.has(VERDICT.CODE) ? VERDICT_NAMES.get(readBe32(v.get(VERDICT.CODE)!)) : undefined;
      if (!code) return unknown;
      return v.has(VERDICT.CHAIN)
        ? { kind: 'verdict', verdict: code, chain: readCstr(v.get(VERDICT.CHAIN)!) }
        : { kind: 'verdict', verdict: code };
    }
    case 'fib': {
      const [dreg, result, flags] = [u32(1), u32(2), u32(3)];
      return dreg === undefined || result === undefined || flags === undefined ? unknown : { kind: 'fib', dreg, result, flags };
    }
    case 'nat': {
      // The kernel dumps each maximum register (equal to the minimum without a range) and adds the
      // flags the registers imply (NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PROTO_SPECIFIED). Ranges are not modelled.
      const [type, family, addrReg, protoReg, flags] = [u32(1), u32(2), u32(3), u32(5), u32(7)];
      if (type === undefined || family === undefined || (d.has(4) && u32(4) !== addrReg) || (d.has(6) && u32(6) !== protoReg))
        return unknown;
      const e: Extract<Expr, { kind: 'nat' }> = { kind: 'nat', type, family };
      if (addrReg !== undefined) e.addrReg = addrReg;
      if (protoReg !== undefined) e.protoReg = protoReg;
      if (flags !== undefined) e.flags = flags;
      return e;
    }
    case 'masq':
      return d.size ? unknown : { kind: 'masq' };
    default:
      return unknown;
  }
}

// ---------------------------------------------------------------------------------------------
// matches, in nft's linearisation (what `nft -f` sends for the same text)

/** `ip`/`ip6` header fields: offset and length in the network header. */
const L3 = {
  4: { nfproto: 2, saddr: 12, daddr: 16, bytes: 4 },
  6: { nfproto: 10, saddr: 8, daddr: 24, bytes: 16 },
} as const;

/** In an `inet` table a family's header match starts with `meta nfproto == <family>`. */
export const nfprotoIs = (family: 4 | 6): Expr[] => [
  { kind: 'meta', key: META_KEY.nfproto, dreg: REG1 },
  { kind: 'cmp', sreg: REG1, op: CMP_OP.eq, data: Uint8Array.of(L3[family].nfproto) },
];

/**
 * `ip[6] saddr|daddr ==|!= <addr>[/<prefix>]` as nft linearises it: a whole address is one load
 * and compare; a byte-aligned prefix loads only its bytes; any other prefix (also /0) loads the
 * whole address and masks it first.
 */
export function addressMatch(family: 4 | 6, field: 'saddr' | 'daddr', op: 'eq' | 'neq', addr: Uint8Array, prefix: number): Expr[] {
  const { bytes } = L3[family];
  const offset = L3[family][field];
  const bits = bytes * 8;
  const cmp = (data: Uint8Array): Expr => ({ kind: 'cmp', sreg: REG1, op: CMP_OP[op], data });
  if (prefix === bits || (prefix > 0 && prefix % 8 === 0)) {
    const len = prefix / 8;
    return [{ kind: 'payload', base: PAYLOAD_BASE.network, offset, len, dreg: REG1 }, cmp(addr.slice(0, len))];
  }
  const mask = new Uint8Array(bytes);
  for (let i = 0; i < prefix; i++) mask[i >> 3]! |= 0x80 >> (i & 7);
  return [
    { kind: 'payload', base: PAYLOAD_BASE.network, offset, len: bytes, dreg: REG1 },
    { kind: 'bitwise', sreg: REG1, dreg: REG1, mask, xor: new Uint8Array(bytes) },
    cmp(addr.map((x, i) => x & mask[i]!)),
  ];
}

/** `iifname "<name>"`: nft compares all IFNAMSIZ (16) bytes, the name NUL-padded. */
export function iifnameIs(name: string): Expr[] {
  const data = new Uint8Array(16);
  data.set(new TextEncoder().encode(name).subarray(0, 15));
  return [
    { kind: 'meta', key: META_KEY.iifname, dreg: REG1 },
    { kind: 'cmp', sreg: REG1, op: CMP_OP.eq, data },
  ];
}

/** `ether saddr <mac>` in a bridge table. */
export const etherSaddrIs = (mac: Uint8Array): Expr[] => [
  { kind: 'payload', base: PAYLOAD_BASE.link, offset: 6, len: 6, dreg: REG1 },
  { kind: 'cmp', sreg: REG1, op: CMP_OP.eq, data: mac },
];

/** `tcp|udp|sctp dport <port>` in an ip/ip6 table: the transport protocol, then the port (big-endian). */
export function dportIs(proto: L4Proto, port: number): Expr[] {
  return [
    { kind: 'meta', key: META_KEY.l4proto, dreg: REG1 },
    { kind: 'cmp', sreg: REG1, op: CMP_OP.eq, data: Uint8Array.of(L4PROTO[proto]) },
    { kind: 'payload', base: PAYLOAD_BASE.transport, offset: 2, len: 2, dreg: REG1 },
    { kind: 'cmp', sreg: REG1, op: CMP_OP.eq, data: Uint8Array.of(port >> 8, port & 0xff) },
  ];
}

/**
 * `fib daddr type local`: the route type is a host-order integer in the register (every target of
 * the standalone build is little-endian).
 */
export const fibDaddrLocal = (): Expr[] => [
  { kind: 'fib', result: FIB_RESULT.addrtype, flags: FIB_FLAG.daddr, dreg: REG1 },
  { kind: 'cmp', sreg: REG1, op: CMP_OP.eq, data: Uint8Array.of(RTN.local, 0, 0, 0) },
];

/** `dnat to <addr>:<port>` (IPv6: `[addr]:port`): address and port loaded into registers 1 and 2. */
export const dnatTo = (family: 4 | 6, addr: Uint8Array, port: number): Expr[] => [
  { kind: 'immediate', dreg: REG1, data: addr },
  { kind: 'immediate', dreg: REG2, data: Uint8Array.of(port >> 8, port & 0xff) },
  { kind: 'nat', type: NAT_TYPE.dnat, family: L3[family].nfproto, addrReg: REG1, protoReg: REG2, flags: NAT_FLAG.protoSpecified },
];

export const verdict = (v: VerdictName, chain?: string): Expr =>
  chain === undefined ? { kind: 'verdict', verdict: v } : { kind: 'verdict', verdict: v, chain };

// ---------------------------------------------------------------------------------------------
// requests

/** One nf_tables message of a batch or a query, before it gets its sequence number. */
export interface NfMessage {
  type: number;
  flags: number;
  family: number;
  attrs: Attr[];
}

const msgType = (m: number): number => (NFNL_SUBSYS_NFTABLES << 8) | m;

export interface TableRef {
  family: TableFamily;
  table: string;
}

export interface BaseChainSpec {
  type: 'filter' | 'nat';
  hook: keyof typeof HOOK_NUM;
  priority: number;
  policy?: 'accept' | 'drop';
}

/** `add table` (an existing table is left as it is: no NLM_F_EXCL). */
export function addTable(t: TableRef, comment?: string): NfMessage {
  const attrs: Attr[] = [
    [TABLE.NAME, cstr(t.table)],
    [TABLE.FLAGS, be32(0)],
  ];
  if (comment !== undefined) attrs.push([TABLE.USERDATA, commentUdata(comment)]);
  return { type: msgType(NFT_MSG.NEWTABLE), flags: 0, family: NFPROTO[t.family], attrs };
}

/** `add chain` (or `create chain`: `exclusive` fails with EEXIST when it exists). */
export function addChain(t: TableRef, name: string, opts: { base?: BaseChainSpec; comment?: string; exclusive?: boolean } = {}): NfMessage {
  const attrs: Attr[] = [
    [CHAIN.TABLE, cstr(t.table)],
    [CHAIN.NAME, cstr(name)],
  ];
  const b = opts.base;
  if (b) {
    attrs.push([CHAIN.TYPE, cstr(b.type)]);
    if (b.policy) attrs.push([CHAIN.POLICY, be32(b.policy === 'accept' ? 1 : 0)]);
    attrs.push([
      CHAIN.HOOK,
      [
        [HOOK.NUM, be32(HOOK_NUM[b.hook])],
        [HOOK.PRIORITY, be32(b.priority)],
      ],
    ]);
  }
  if (opts.comment !== undefined) attrs.push([CHAIN.USERDATA, commentUdata(opts.comment)]);
  return { type: msgType(NFT_MSG.NEWCHAIN), flags: NLM_F_CREATE | (opts.exclusive ? NLM_F_EXCL : 0), family: NFPROTO[t.family], attrs };
}

export const deleteChain = (t: TableRef, name: string): NfMessage => ({
  type: msgType(NFT_MSG.DELCHAIN),
  flags: 0,
  family: NFPROTO[t.family],
  attrs: [
    [CHAIN.TABLE, cstr(t.table)],
    [CHAIN.NAME, cstr(name)],
  ],
});

/** `flush chain`: a rule deletion without a handle. */
export const flushChain = (t: TableRef, chain: string): NfMessage => ({
  type: msgType(NFT_MSG.DELRULE),
  flags: 0,
  family: NFPROTO[t.family],
  attrs: [
    [RULE.TABLE, cstr(t.table)],
    [RULE.CHAIN, cstr(chain)],
  ],
});

export const deleteRule = (t: TableRef, chain: string, handle: number): NfMessage => ({
  type: msgType(NFT_MSG.DELRULE),
  flags: 0,
  family: NFPROTO[t.family],
  attrs: [
    [RULE.TABLE, cstr(t.table)],
    [RULE.CHAIN, cstr(chain)],
    [RULE.HANDLE, be64(handle)],
  ],
});

/** `add rule` (appended), with its comment as nft stores it. */
export function addRule(t: TableRef, chain: string, exprs: readonly Expr[], comment?: string): NfMessage {
  const attrs: Attr[] = [[RULE.TABLE, cstr(t.table)], [RULE.CHAIN, cstr(chain)], exprsAttr(exprs)];
  if (comment !== undefined) attrs.push([RULE.USERDATA, commentUdata(comment)]);
  return { type: msgType(NFT_MSG.NEWRULE), flags: NLM_F_CREATE | NLM_F_APPEND, family: NFPROTO[t.family], attrs };
}

/** A dump of a chain's rules (the kernel filters by table and chain). */
export const getRules = (t: TableRef, chain: string): NfMessage => ({
  type: msgType(NFT_MSG.GETRULE),
  flags: NLM_F_DUMP,
  family: NFPROTO[t.family],
  attrs: [
    [RULE.TABLE, cstr(t.table)],
    [RULE.CHAIN, cstr(chain)],
  ],
});

/** One chain, by name (ENOENT when it or its table is missing). */
export const getChain = (t: TableRef, name: string): NfMessage => ({
  type: msgType(NFT_MSG.GETCHAIN),
  flags: 0,
  family: NFPROTO[t.family],
  attrs: [
    [CHAIN.TABLE, cstr(t.table)],
    [CHAIN.NAME, cstr(name)],
  ],
});

/**
 * A chain's reference count from a NEWCHAIN answer (payload after the netlink header): the kernel
 * counts the chain's own rules and every jump or goto to it.
 */
export function decodeChainUse(payload: Uint8Array): number | undefined {
  const use = parseAttrs(payload, 4).get(CHAIN.USE);
  return use && use.length >= 4 ? readBe32(use) : undefined;
}

/** nfgenmsg: family, version 0, resource id (big-endian). */
const nfgenmsg = (family: number, resId = 0): Uint8Array => Uint8Array.of(family, 0, resId >> 8, resId & 0xff);

/** One message with its netlink header (host order) and nfgenmsg. */
export function encodeMessage(m: NfMessage, seq: number, extraFlags = 0): Uint8Array {
  const body = concatBytes([nfgenmsg(m.family), attrBytes(m.attrs)]);
  const out = new Uint8Array(16 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint16(4, m.type, true);
  v.setUint16(6, NLM_F_REQUEST | m.flags | extraFlags, true);
  v.setUint32(8, seq, true);
  out.set(body, 16);
  return out;
}

function batchMarker(type: number, seq: number): Uint8Array {
  const out = new Uint8Array(20);
  const v = new DataView(out.buffer);
  v.setUint32(0, 20, true);
  v.setUint16(4, type, true);
  v.setUint16(6, NLM_F_REQUEST, true);
  v.setUint32(8, seq, true);
  out.set(nfgenmsg(0, NFNL_SUBSYS_NFTABLES), 16);
  return out;
}

/**
 * One transaction: BATCH_BEGIN, the messages, BATCH_END, with sequence numbers from `seq` on
 * (begin = seq, message i = seq + 1 + i). `ack` asks the kernel to acknowledge every message,
 * so the caller knows each was looked at; without it the bytes are exactly what nft sends.
 */
export function encodeBatch(messages: readonly NfMessage[], seq: number, ack = true): Uint8Array {
  return concatBytes([
    batchMarker(NFNL_MSG_BATCH_BEGIN, seq),
    ...messages.map((m, i) => encodeMessage(m, seq + 1 + i, ack ? NLM_F_ACK : 0)),
    batchMarker(NFNL_MSG_BATCH_END, seq + 1 + messages.length),
  ]);
}

// ---------------------------------------------------------------------------------------------
// answers

export interface NfRule {
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  exprs: Expr[];
}

function decodeExprList(list: Uint8Array | undefined): Expr[] {
  const exprs: Expr[] = [];
  if (!list) return exprs;
  const v = new DataView(list.buffer, list.byteOffset, list.byteLength);
  for (let off = 0; off + 4 <= list.length; ) {
    const len = v.getUint16(off, true);
    if (len < 4 || off + len > list.length) break;
    exprs.push(decodeExpr(list.subarray(off + 4, off + len)));
    off += (len + 3) & ~3;
  }
  return exprs;
}

/**
 * A NEWRULE message of a dump (payload after the netlink header). Only the handle and comment are
 * read at once — finding an attachment's rules needs nothing else, and a dump of a node's chain
 * holds hundreds of rules; names and expressions are decoded when first asked for.
 */
export function decodeRule(payload: Uint8Array): NfRule {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let table: Uint8Array | undefined;
  let chain: Uint8Array | undefined;
  let list: Uint8Array | undefined;
  let handle = 0;
  let comment: string | undefined;
  for (let off = 4; off + 4 <= payload.length; ) {
    const len = v.getUint16(off, true);
    if (len < 4 || off + len > payload.length) break;
    const value = payload.subarray(off + 4, off + len);
    const type = v.getUint16(off + 2, true) & 0x3fff;
    if (type === RULE.TABLE) table = value;
    else if (type === RULE.CHAIN) chain = value;
    else if (type === RULE.HANDLE && value.length >= 8) handle = readBe64(value);
    else if (type === RULE.EXPRESSIONS) list = value;
    else if (type === RULE.USERDATA) comment = udataComment(value);
    off += (len + 3) & ~3;
  }
  let names: [string, string] | undefined;
  let exprs: Expr[] | undefined;
  const rule: NfRule = {
    get table() {
      names ??= [readCstr(table ?? new Uint8Array()), readCstr(chain ?? new Uint8Array())];
      return names[0];
    },
    get chain() {
      names ??= [readCstr(table ?? new Uint8Array()), readCstr(chain ?? new Uint8Array())];
      return names[1];
    },
    handle,
    get exprs() {
      exprs ??= decodeExprList(list);
      return exprs;
    },
  };
  if (comment !== undefined) rule.comment = comment;
  return rule;
}

/**
 * Whether a NEWRULE message's comment starts with `prefix` (bytes), checked without decoding
 * anything: a dump of a node's chain is filtered this way before rules are built from it.
 */
export function commentStartsWith(payload: Uint8Array, prefix: Uint8Array): boolean {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  for (let off = 4; off + 4 <= payload.length; ) {
    const len = v.getUint16(off, true);
    if (len < 4 || off + len > payload.length) return false;
    if ((v.getUint16(off + 2, true) & 0x3fff) === RULE.USERDATA) {
      // The comment TLV first (as nft writes it): type, length, text.
      const at = off + 6;
      if (payload[off + 4] !== UDATA_COMMENT || at + prefix.length > off + len) return false;
      for (let i = 0; i < prefix.length; i++) if (payload[at + i] !== prefix[i]) return false;
      return true;
    }
    off += (len + 3) & ~3;
  }
  return false;
}

/**
 * The user-data attribute of a rule whose comment is exactly `comment` and nothing else, as nft
 * writes it: what `commentIsAt` looks for at the end of a dumped rule.
 */
export function commentAttr(comment: string): Uint8Array {
  const udata = commentUdata(comment);
  const attr = new Uint8Array(4 + udata.length);
  new DataView(attr.buffer).setUint16(0, attr.length, true);
  new DataView(attr.buffer).setUint16(2, RULE.USERDATA, true);
  attr.set(udata, 4);
  return attr;
}

/**
 * Whether the NEWRULE payload at `buf[start..end)` ends with `attr` (from commentAttr), tested in
 * place: the kernel dumps a rule's user data last, so a rule of this comment is known without
 * walking its attributes — a dump of a node's chain holds a rule per pod.
 */
export function commentIsAt(buf: Uint8Array, start: number, end: number, attr: Uint8Array): boolean {
  const at = end - ((attr.length + 3) & ~3);
  if (at < start) return false;
  for (let i = 0; i < attr.length; i++) if (buf[at + i] !== attr[i]) return false;
  return true;
}

/** The verdict's chain-name attribute of a jump or goto to `chain`: what `jumpsToAt` looks for. */
export function jumpChainAttr(chain: string): Uint8Array {
  const name = new TextEncoder().encode(`${chain}\0`);
  const attr = new Uint8Array(4 + name.length);
  new DataView(attr.buffer).setUint16(0, attr.length, true);
  new DataView(attr.buffer).setUint16(2, VERDICT.CHAIN, true);
  attr.set(name, 4);
  return attr;
}

/**
 * Whether the NEWRULE payload at `buf[start..end)` may end in a jump or goto to the chain of
 * `attr` (from jumpChainAttr), tested in place: nested attributes end together, so the verdict's
 * chain name is the last thing in the expression list. A cheap filter for a dump (iptables-nft's
 * POSTROUTING has a rule per pod); `jumpTarget` on the decoded rule is the authority.
 */
export function jumpsToAt(buf: Uint8Array, start: number, end: number, attr: Uint8Array): boolean {
  const u16 = (at: number) => buf[at]! | (buf[at + 1]! << 8);
  for (let off = start + 4; off + 4 <= end; ) {
    const len = u16(off);
    if (len < 4 || off + len > end) return false;
    if ((u16(off + 2) & 0x3fff) === RULE.EXPRESSIONS) {
      const at = off + len - ((attr.length + 3) & ~3);
      if (at < off) return false;
      for (let i = 0; i < attr.length; i++) if (buf[at + i] !== attr[i]) return false;
      return true;
    }
    off += (len + 3) & ~3;
  }
  return false;
}

/** `jumpsToAt` on one message's payload. */
export const mayJumpTo = (payload: Uint8Array, chain: string): boolean => jumpsToAt(payload, 0, payload.length, jumpChainAttr(chain));

/** The chain a jump or goto of this rule leads to, if any. */
export const jumpTarget = (r: NfRule): string | undefined =>
  r.exprs.find((e): e is Extract<Expr, { kind: 'verdict' }> => e.kind === 'verdict' && (e.verdict === 'jump' || e.verdict === 'goto'))
    ?.chain;

/** Whether a rule does exactly what `exprs` describes (its comment aside). */
export const sameExprs = (r: NfRule, exprs: readonly Expr[]): boolean =>
  r.exprs.length === exprs.length && r.exprs.every((e, i) => exprText(e) === exprText(exprs[i]!));
