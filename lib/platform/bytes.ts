// Byte-array helpers that work the same under Node and in the standalone runtime (which has no Buffer).

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
