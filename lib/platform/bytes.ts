// Byte-array helpers that work the same under Node and in the standalone runtime (which has no Buffer).
import { libc } from './libc.ts';

/** The chunks as one array (Buffer.concat without Buffer). */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return all;
}

/** Where `needle` first occurs in `hay` at or after `from`, or -1: memmem(3) in the standalone executable. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  const c = libc();
  if (c) return c.indexOfBytes(hay, needle, from);
  if (needle.length === 0) return -1;
  outer: for (let i = Math.max(0, from); i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}
