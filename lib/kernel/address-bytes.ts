// An address's bytes for a netlink request (network order), parsed by lib/net/address.ts (ip-num,
// Go's rules): the one thing the kernel path needs ip-num for. lib/kernel/netlink-ip.ts loads it
// only for a batch with address or route operations, so a DEL's `link del` never loads ip-num.
import { ipBytes, parseIP } from '../net/address.ts';

/** The bytes of an address; throws for anything lib/net/address.ts's strict parser rejects. */
export function addressBytes(ip: string): Uint8Array {
  const parsed = parseIP(ip);
  if (!parsed) throw new Error(`not an IP address: ${ip}`);
  const bytes = ipBytes(parsed);
  // lib/net/address.ts reads "::ffff:a.b.c.d" as IPv4 (as Go does); written in IPv6 notation, it stays IPv6 here.
  if (parsed.family === 4 && ip.includes(':')) return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...bytes]);
  return bytes;
}
