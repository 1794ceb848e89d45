// Stable short names derived from identifiers, exactly as the reference plugins derive them
// (containernetworking/plugins pkg/utils MustFormatHashWithPrefix): prefix + hex(sha512(input)),
// cut to `length` characters. Kernel objects named this way can be found again from
// (network, container ID, ifname) alone, by us or by the reference plugins.
import { createHash } from 'node:crypto';

const MAX_HASH_LEN = 128; // sha512 in hex

export function formatHashWithPrefix(length: number, prefix: string, toHash: string): string {
  if (prefix.length >= length || length > MAX_HASH_LEN) throw new Error('invalid length');
  return (prefix + createHash('sha512').update(toHash, 'utf8').digest('hex')).slice(0, length);
}
