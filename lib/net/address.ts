// IPv4/IPv6 address arithmetic on bigints, formatted exactly like Go's net.IP.String()
// (RFC 5952 for IPv6) because host-local lease file names must match the reference byte for byte.
// Written by hand instead of using ip-num: we need Go's exact text form and only a dozen operations.

export type Family = 4 | 6;

export interface IP {
  readonly family: Family;
  readonly value: bigint;
}

/** An address with a prefix length; the address may have host bits set (e.g. "10.1.0.5/24"). */
export interface Cidr {
  readonly ip: IP;
  readonly prefix: number;
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128);

function parseIPv4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    // Go rejects leading zeros ("010") and empty parts.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIPv6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let head: string[];
  let tail: string[];
  const dbl = s.indexOf('::');
  if (dbl >= 0) {
    if (s.indexOf('::', dbl + 1) >= 0) return null;
    const a = s.slice(0, dbl);
    const b = s.slice(dbl + 2);
    head = a === '' ? [] : a.split(':');
    tail = b === '' ? [] : b.split(':');
  } else {
    head = s.split(':');
    tail = [];
  }
  const groups: number[] = [];
  const all = [...head, ...tail];
  // An embedded IPv4 address may only be the last element of the text ("1.2.3.4::" is invalid).
  const last = all[all.length - 1];
  let v4: bigint | null = null;
  if (last?.includes('.')) {
    if (!s.endsWith(last)) return null;
    v4 = parseIPv4(last);
    if (v4 === null) return null;
    if (tail.length > 0) tail = tail.slice(0, -1);
    else head = head.slice(0, -1);
  }
  const toGroup = (g: string): number | null => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : null);
  const headG = head.map(toGroup);
  const tailG = tail.map(toGroup);
  if (headG.includes(null) || tailG.includes(null)) return null;
  const fixed = headG.length + tailG.length + (v4 !== null ? 2 : 0);
  if (dbl >= 0) {
    if (fixed > 7) return null;
    groups.push(...(headG as number[]), ...new Array<number>(8 - fixed).fill(0), ...(tailG as number[]));
  } else {
    if (fixed !== 8) return null;
    groups.push(...(headG as number[]));
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (v4 !== null) v = (v << 32n) | v4;
  return v;
}

// ::ffff:0:0/96 — IPv4-mapped IPv6 addresses, which Go's net.IP treats as IPv4 (To4() != nil).
const V4_MAPPED_PREFIX = 0xffffn << 32n;
const isV4Mapped = (v: bigint): boolean => v >> 32n === 0xffffn;

export function parseIP(s: string): IP | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) return null;
  if (s.includes(':')) {
    const v = parseIPv6(s);
    if (v === null) return null;
    // Go parses "::ffff:10.1.2.3" into the same net.IP as "10.1.2.3": do the same.
    return isV4Mapped(v) ? { family: 4, value: v - V4_MAPPED_PREFIX } : { family: 6, value: v };
  }
  const v = parseIPv4(s);
  return v === null ? null : { family: 4, value: v };
}

export function parseCidr(s: string): Cidr | null {
  if (typeof s !== 'string') return null;
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

export function formatIP(ip: IP): string {
  if (ip.family === 4 || isV4Mapped(ip.value)) {
    // Go prints an IPv4-mapped address in dotted form too.
    const v = Number(ip.value & 0xffffffffn);
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of two or more zero groups becomes "::" (the first such run on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export const formatCidr = (c: Cidr): string => `${formatIP(c.ip)}/${c.prefix}`;

const maskOf = (family: Family, prefix: number): bigint => {
  const bits = BigInt(bitsOf(family));
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
};

/** The network (all host bits cleared) of a CIDR. */
export const networkOf = (c: Cidr): IP => ({ family: c.ip.family, value: c.ip.value & maskOf(c.ip.family, c.prefix) });

/** The last address (all host bits set) of a CIDR. */
export const lastOf = (c: Cidr): IP => ({
  family: c.ip.family,
  value: (c.ip.value & maskOf(c.ip.family, c.prefix)) | ((1n << BigInt(bitsOf(c.ip.family) - c.prefix)) - 1n),
});

/** The network CIDR containing an address, e.g. 10.1.0.5/24 → 10.1.0.0/24. */
export const canonicalCidr = (c: Cidr): Cidr => ({ ip: networkOf(c), prefix: c.prefix });

export const hasHostBits = (c: Cidr): boolean => networkOf(c).value !== c.ip.value;

export const contains = (c: Cidr, ip: IP): boolean =>
  c.ip.family === ip.family && (ip.value & maskOf(c.ip.family, c.prefix)) === networkOf(c).value;

export const overlaps = (a: Cidr, b: Cidr): boolean => a.ip.family === b.ip.family && (contains(a, b.ip) || contains(b, a.ip));

export const ipEqual = (a: IP, b: IP): boolean => a.family === b.family && a.value === b.value;

export const compareIP = (a: IP, b: IP): number =>
  a.family !== b.family ? a.family - b.family : a.value < b.value ? -1 : a.value > b.value ? 1 : 0;

export const addToIP = (ip: IP, n: bigint): IP => ({ family: ip.family, value: ip.value + n });

/** The family of an address or CIDR ("::ffff:a.b.c.d" is IPv4, as in Go); null when it is neither. */
export const familyOfAddress = (cidrOrIp: string): Family | null => parseIPOrCidr(cidrOrIp)?.ip.family ?? null;

/** Normalise an address string to Go's canonical text form; null if it is not an address. */
export function canonicalIPString(s: string): string | null {
  const ip = parseIP(s);
  return ip ? formatIP(ip) : null;
}
