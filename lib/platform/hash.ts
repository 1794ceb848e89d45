// Stable short names derived from identifiers, exactly as the reference plugins derive them
// (containernetworking/plugins pkg/utils MustFormatHashWithPrefix): prefix + hex(sha512(input)),
// cut to `length` characters. Kernel objects named this way can be found again from
// (network, container ID, ifname) alone, by us or by the reference plugins.
declare const require: (id: string) => unknown;

type NodeCrypto = typeof import('node:crypto');
let nodeCrypto: NodeCrypto | undefined;

const host = (globalThis as { __cniHost?: { hexDigest(algorithm: string, text: string): string } }).__cniHost;

/** Hex digest: lib/platform/qjs/host.c's in the standalone executable, node:crypto (loaded on first use) under Node. */
export function hexDigest(algorithm: 'sha1' | 'sha512', input: string): string {
  if (host) return host.hexDigest(algorithm, input); // the standalone executable (lib/platform/qjs/host.c)
  nodeCrypto ??= (process.getBuiltinModule?.('node:crypto') ?? require('node:crypto')) as NodeCrypto;
  return nodeCrypto.createHash(algorithm).update(input, 'utf8').digest('hex');
}

/** Random bytes from the global Web Crypto (no module to load). */
export const randomBytesHex = (n: number): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('');

const MAX_HASH_LEN = 128; // sha512 in hex

export function formatHashWithPrefix(length: number, prefix: string, toHash: string): string {
  if (prefix.length >= length || length > MAX_HASH_LEN) throw new Error('invalid length');
  return (prefix + hexDigest('sha512', toHash)).slice(0, length);
}
