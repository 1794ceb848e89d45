// MAC addresses: validation and generation. We choose the MACs of the veth ends ourselves
// (random, locally administered, unicast — what the kernel's eth_random_addr does), so the
// result can report them without reading them back from the kernel.

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export const isMac = (s: string): boolean => MAC_RE.test(s);

export function randomMac(): string {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(6)); // Web Crypto: no module to load
  b[0] = (b[0]! & 0xfe) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export const normalizeMac = (s: string): string => s.toLowerCase();
