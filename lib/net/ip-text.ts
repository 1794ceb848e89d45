// Go's text form of an IPv6 address, from its eight 16-bit groups: the formatting helper that
// lib/net/address.ts puts over ip-num (lease file names must be Go's net.IP.String() byte for byte),
// and that lib/kernel/netlink-codec.ts uses on the kernel's bytes. A module of its own, without
// ip-num, so the code that only prints addresses does not load it.

/**
 * Go's text form of IPv6 groups (RFC 5952): lower-case hex without leading zeros, the longest run
 * of two or more zero groups (the first on a tie) as "::", an IPv4-mapped address dotted.
 */
export function formatIPv6Groups(g: readonly number[]): string {
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
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
  const hex = (a: readonly number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}
