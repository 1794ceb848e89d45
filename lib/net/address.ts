// IPv4/IPv6 addresses and CIDRs on ip-num: parsing, containment, overlap, ordering, range sizes
// and stepping are ip-num's. On top of it sit only what Go's net package adds: its text form
// (net.IP.String(), RFC 5952 for IPv6, which host-local's lease file names must match byte for
// byte; lib/net/ip-text.ts), its parse rules where they differ from ip-num's (no zones;
// "::ffff:a.b.c.d" is IPv4; a prefix length may have leading zeros), and what keeps ip-num's cost
// within a plugin's start-up under QuickJS (see boundsOf, parseIP): ip-num builds addresses through
// strings of bits, so a parse costs ~0.2M instructions (an IPv6 one ~1M) and a CIDR's
// getFirst()/getLast() ~0.8M each (~3M for IPv6) — more than the rest of an ADD.
//
// ip-num's modules are imported one by one: its index also loads what no plugin uses (Asn, IPPool).
import { type AbstractIPNum, IPv4, IPv6 } from 'ip-num/dist/src/IPNumber.js';
import { RangedSet } from 'ip-num/dist/src/IPRange.js';
import { IPv4Prefix, IPv6Prefix } from 'ip-num/dist/src/Prefix.js';
import { formatIPv6Groups } from './ip-text.ts';

export { formatIPv6Groups };

export type Family = 4 | 6;

/** An ip-num address with its family. Made by parseIP (and the arithmetic below), never by hand. */
export class IP {
  constructor(readonly num: IPv4 | IPv6) {}
  get family(): Family {
    return this.num.bitSize === 32 ? 4 : 6;
  }
  /** The address as a number (read-only; ip-num does the arithmetic). */
  get value(): bigint {
    return this.num.value;
  }
}

/** An address with a prefix length; the address may have host bits set (e.g. "10.1.0.5/24"). */
export interface Cidr {
  readonly ip: IP;
  readonly prefix: number;
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128);

const wrap = (num: IPv4 | IPv6): IP => new IP(num as IPv4 | IPv6);

// ::ffff:0:0/96 — IPv4-mapped IPv6 addresses, which Go's net.IP treats as IPv4 (To4() != nil).
let mappedBlock: RangedSet<AbstractIPNum> | undefined;
const v4MappedBlock = (): RangedSet<AbstractIPNum> =>
  (mappedBlock ??= new RangedSet(IPv6.fromIPv4DotDecimalString('0.0.0.0'), IPv6.fromIPv4DotDecimalString('255.255.255.255')));
const isV4Mapped = (v6: IPv6): boolean => v4MappedBlock().contains(RangedSet.fromSingleIP(v6));

/**
 * The eight 16-bit groups of an IPv6 address. ip-num derives them by printing the value in hex:
 * from a number it keeps only the groups from the first non-zero one on (the leading zero groups
 * are put back here), and QuickJS prints a BigInt whose top bit is set with an extra leading "0"
 * (fd00::1 → "0fd00…"), which ip-num turns into a ninth, leading zero group (dropped here).
 */
function groupsOf(v6: IPv6): number[] {
  const h = v6.getHexadecatet().map((x) => x.getValue());
  return h.length < 8 ? [...new Array<number>(8 - h.length).fill(0), ...h] : h.slice(h.length - 8);
}

/** The IPv4 address an IPv4-mapped IPv6 address carries in its last two groups. */
function unmap(v6: IPv6): IPv4 {
  const g = groupsOf(v6);
  return IPv4.fromString(`${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`);
}

/**
 * Parsed addresses and CIDRs by their text: a plugin call meets the same few strings again and
 * again (a result's addresses go through the plan, the netlink encoder and CHECK), and the values
 * are immutable. Bounded, for a caller that parses many distinct strings (a full data directory).
 */
const MEMO_LIMIT = 512;
const parsedIPs = new Map<string, IP | null>();
const parsedCidrs = new Map<string, Cidr | null>();
function memo<T>(cache: Map<string, T>, key: string, compute: () => T): T {
  let v = cache.get(key);
  if (v === undefined && !cache.has(key)) {
    if (cache.size >= MEMO_LIMIT) cache.clear();
    v = compute();
    cache.set(key, v);
  }
  return v as T;
}

/** Go's net.ParseIP: dotted IPv4 without leading zeros, or IPv6 text without a zone. */
export function parseIP(s: string): IP | null {
  // ip-num validates with regular expressions: refuse what cannot be an address before them.
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) return null;
  return memo(parsedIPs, s, () => parseIPText(s));
}

function parseIPText(s: string): IP | null {
  try {
    if (!s.includes(':')) return wrap(IPv4.fromString(s));
    if (s.includes('%')) return null; // a zone: Go's ParseIP rejects it, ip-num keeps it aside
    const v6 = IPv6.fromString(s);
    // Go parses "::ffff:10.1.2.3" into the same net.IP as "10.1.2.3": do the same.
    return wrap(isV4Mapped(v6) ? unmap(v6) : v6);
  } catch {
    return null;
  }
}

/** Go's net.ParseCIDR, keeping the host bits: "10.1.0.5/24" → 10.1.0.5 with prefix 24. */
export function parseCidr(s: string): Cidr | null {
  if (typeof s !== 'string') return null;
  return memo(parsedCidrs, s, () => parseCidrText(s));
}

function parseCidrText(s: string): Cidr | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const text = s.slice(0, slash);
  const ip = parseIP(text);
  const p = s.slice(slash + 1);
  // Go's ParseCIDR reads the length with dtoi, which takes leading zeros ("/024" is /24).
  if (!ip || !/^[0-9]{1,8}$/.test(p)) return null;
  let prefix = Number(p);
  if (ip.family === 4 && text.includes(':')) {
    // An IPv4-mapped prefix (::ffff:10.1.0.0/120) is the IPv4 prefix (10.1.0.0/24); one shorter
    // than /96 reaches outside the mapped block and means nothing useful, so it is rejected.
    if (prefix < 96 || prefix > 128) return null;
    prefix -= 96;
  }
  if (prefix > bitsOf(ip.family)) return null;
  return { ip, prefix };
}

/** "10.1.0.5" or "10.1.0.5/24" → address and optional prefix. */
export function parseIPOrCidr(s: string): { ip: IP; prefix?: number } | null {
  if (typeof s !== 'string') return null;
  if (s.includes('/')) {
    const c = parseCidr(s);
    return c ? { ip: c.ip, prefix: c.prefix } : null;
  }
  const ip = parseIP(s);
  return ip ? { ip } : null;
}

/** Go's net.IP.String(): what host-local names its lease files. */
export function formatIP(ip: IP): string {
  const num = ip.num;
  if (num instanceof IPv4) return num.toString();
  return formatIPv6Groups(groupsOf(num));
}

export const formatCidr = (c: Cidr): string => `${formatIP(c.ip)}/${c.prefix}`;

/** The address in network byte order (4 or 16 bytes), from ip-num's octets or groups. */
export function ipBytes(ip: IP): Uint8Array {
  const num = ip.num;
  if (num instanceof IPv4) return Uint8Array.from(num.getOctets(), (o) => o.getValue());
  const out = new Uint8Array(16);
  groupsOf(num).forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 255;
  });
  return out;
}

/**
 * A CIDR's first and last address, computed once per CIDR object. ip-num's own getFirst() and
 * getLast() mask the address with a mask it builds as a string of 32 or 128 bits and parses back;
 * here the same block comes from ip-num's range size for the prefix (toRangeSize): the aligned run
 * of that many addresses holding the address.
 */
const boundsCache = new WeakMap<Cidr, RangedSet<AbstractIPNum>>();
function boundsOf(c: Cidr): RangedSet<AbstractIPNum> {
  let b = boundsCache.get(c);
  if (!b) {
    const v4 = c.ip.num instanceof IPv4;
    const size = (v4 ? new IPv4Prefix(BigInt(c.prefix)) : new IPv6Prefix(BigInt(c.prefix))).toRangeSize();
    const first = c.ip.value - (c.ip.value % size);
    const make = (v: bigint): IPv4 | IPv6 => (v4 ? IPv4.fromNumber(v) : IPv6.fromBigInt(v));
    // A network address (no host bits, the usual subnet) is its own first address.
    b = new RangedSet<AbstractIPNum>(first === c.ip.value ? c.ip.num : make(first), make(first + size - 1n));
    boundsCache.set(c, b);
  }
  return b;
}

/** The network (all host bits cleared) of a CIDR. */
export const networkOf = (c: Cidr): IP => wrap(boundsOf(c).getFirst() as IPv4 | IPv6);

/** The last address (all host bits set) of a CIDR. */
export const lastOf = (c: Cidr): IP => wrap(boundsOf(c).getLast() as IPv4 | IPv6);

/** The network CIDR containing an address, e.g. 10.1.0.5/24 → 10.1.0.0/24. */
export const canonicalCidr = (c: Cidr): Cidr => ({ ip: networkOf(c), prefix: c.prefix });

export const hasHostBits = (c: Cidr): boolean => !ipEqual(networkOf(c), c.ip);

export const contains = (c: Cidr, ip: IP): boolean =>
  c.ip.family === ip.family && boundsOf(c).contains(RangedSet.fromSingleIP<AbstractIPNum>(ip.num));

export const overlaps = (a: Cidr, b: Cidr): boolean => a.ip.family === b.ip.family && boundsOf(a).isOverlapping(boundsOf(b));

export const ipEqual = (a: IP, b: IP): boolean => a.family === b.family && a.num.isEquals(b.num);

export const compareIP = (a: IP, b: IP): number =>
  a.family !== b.family ? a.family - b.family : a.num.isLessThan(b.num) ? -1 : a.num.isGreaterThan(b.num) ? 1 : 0;

// Each step builds a new ip-num address (~0.15 M QuickJS instructions: ip-num derives its octets
// through binary strings); a config asks for the same neighbour more than once (a range's start and
// its default gateway are both the network's next address), so each is made once per address.
const nexts = new WeakMap<IP, IP>();
const previous = new WeakMap<IP, IP>();

/** The next address (ip-num's nextIPNumber). */
export function nextIP(ip: IP): IP {
  const known = nexts.get(ip);
  if (known) return known;
  const n = wrap(ip.num.nextIPNumber());
  nexts.set(ip, n);
  return n;
}

/** The previous address (ip-num's previousIPNumber). */
export function previousIP(ip: IP): IP {
  const known = previous.get(ip);
  if (known) return known;
  const p = wrap(ip.num.previousIPNumber());
  previous.set(ip, p);
  return p;
}

/** The whole address space of a family as an ip-num range (made once). */
const spaces: Partial<Record<Family, RangedSet<AbstractIPNum>>> = {};
const spaceOf = (family: Family): RangedSet<AbstractIPNum> =>
  (spaces[family] ??=
    family === 4
      ? new RangedSet<AbstractIPNum>(IPv4.fromString('0.0.0.0'), IPv4.fromString('255.255.255.255'))
      : new RangedSet<AbstractIPNum>(IPv6.fromString('::'), IPv6.fromString('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')));

/**
 * `n` addresses further on (`n` may be negative): ip-num's stepping, or its sub-range arithmetic
 * for larger steps. Throws when the result would leave the address space.
 */
export function addToIP(ip: IP, n: bigint): IP {
  if (n === 1n) return nextIP(ip);
  if (n === -1n) return previousIP(ip);
  if (n >= 0n)
    return wrap(new RangedSet<AbstractIPNum>(ip.num, spaceOf(ip.family).getLast()).takeSubRange(n, 1n).getFirst() as IPv4 | IPv6);
  const below = new RangedSet<AbstractIPNum>(spaceOf(ip.family).getFirst(), ip.num);
  return wrap(below.takeSubRange(below.getSize() - 1n + n, 1n).getFirst() as IPv4 | IPv6);
}

/** How many addresses lie from `first` to `last`, both included (ip-num's range size). */
export const rangeSize = (first: IP, last: IP): bigint => new RangedSet<AbstractIPNum>(first.num, last.num).getSize();

/** Is `ip` between `first` and `last` (both included, same family)? */
export const inRange = (first: IP, last: IP, ip: IP): boolean =>
  ip.family === first.family && new RangedSet<AbstractIPNum>(first.num, last.num).contains(RangedSet.fromSingleIP<AbstractIPNum>(ip.num));

/** The family of an address or CIDR ("::ffff:a.b.c.d" is IPv4, as in Go); null when it is neither. */
export const familyOfAddress = (cidrOrIp: string): Family | null => parseIPOrCidr(cidrOrIp)?.ip.family ?? null;

/** Normalise an address string to Go's canonical text form; null if it is not an address. */
export function canonicalIPString(s: string): string | null {
  const ip = parseIP(s);
  return ip ? formatIP(ip) : null;
}
