// host-local's lease index (pure): which lease files a network's directory holds and a digest of
// each one's owner, so an ADD or DEL finds "the leases of (container ID, ifname)" without reading
// every lease file of the network (the reference reads them all, on every call). disk-store.ts
// keeps it in `<network>/.cni-ts/index` and trusts it only while the directory is provably the one
// it describes (the directory's stamp, see disk-store.ts); otherwise it is rebuilt from a full read.
//
// A digest only narrows the search: every lease it points to is read and compared before it counts
// as the owner's, so a digest collision costs a read, never a wrong answer.
//
// File format (ASCII; lease names are addresses, digests hex):
//   cni-ts lease index 1 <stamp> <body length>\n
//   <lease name> <owner digest>\n        one line per lease file ("-": no owner recorded)
//   end <stamp>\n
// The trailer repeats the stamp after exactly <body length> bytes: a write cut short (the writer
// killed in the middle) lacks it and is never taken for an index.
import { hexDigest } from '../lib/platform/hash.ts';

const MAGIC = 'cni-ts lease index 1';
/** The digest of a lease recording no owner (empty or unreadable): matches no owner. */
export const NO_OWNER = '-';

/** Digest of the owner a lease's content records (its trimmed text, as the reference compares it). */
export function ownerDigest(content: string | undefined): string {
  const t = content?.trim();
  return t ? hexDigest('sha1', t).slice(0, 16) : NO_OWNER;
}

/**
 * Lease names with owner digests, kept as the text of the index body ("\n<name> <digest>\n…", with
 * a leading newline so every line is found as "\n<name> "): looking a name or a digest up, adding
 * and removing one are string searches, and writing it back needs no formatting pass. Hundreds of
 * leases stay a few kilobytes.
 */
export class LeaseIndex {
  private constructor(private body: string) {}

  static empty(): LeaseIndex {
    return new LeaseIndex('\n');
  }

  /** From entries with distinct names (a directory's listing): one pass, no lookups. */
  static of(entries: Iterable<[name: string, digest: string]>): LeaseIndex {
    let body = '\n';
    for (const [name, digest] of entries) body += `${name} ${digest}\n`;
    return new LeaseIndex(body);
  }

  /** The index in `text` if it is whole and was written for `stamp`; undefined otherwise. */
  static parse(text: string, stamp: string): LeaseIndex | undefined {
    const headerEnd = text.indexOf('\n');
    if (headerEnd < 0) return undefined;
    const header = text.slice(0, headerEnd).split(' ');
    const length = Number(header.pop());
    const headerStamp = header.pop();
    if (header.join(' ') !== MAGIC || headerStamp !== stamp || !Number.isSafeInteger(length) || length < 0) return undefined;
    const bodyStart = headerEnd + 1;
    const trailer = `end ${stamp}\n`;
    if (text.slice(bodyStart + length, bodyStart + length + trailer.length) !== trailer) return undefined;
    const body = text.slice(bodyStart, bodyStart + length);
    if (body !== '' && !body.endsWith('\n')) return undefined;
    return new LeaseIndex(`\n${body}`);
  }

  format(stamp: string): string {
    const body = this.body.slice(1);
    return `${MAGIC} ${stamp} ${body.length}\n${body}end ${stamp}\n`;
  }

  has(name: string): boolean {
    return this.body.includes(`\n${name} `);
  }

  /** Add or replace the entry of `name`. */
  set(name: string, digest: string): void {
    this.delete(name);
    this.body += `${name} ${digest}\n`;
  }

  delete(name: string): void {
    const at = this.body.indexOf(`\n${name} `);
    if (at < 0) return;
    const end = this.body.indexOf('\n', at + 1);
    this.body = this.body.slice(0, at) + this.body.slice(end);
  }

  /** Names whose owner digest is `digest`. */
  namesWith(digest: string): string[] {
    const out: string[] = [];
    const needle = ` ${digest}\n`;
    for (let at = this.body.indexOf(needle); at >= 0; at = this.body.indexOf(needle, at + needle.length)) {
      out.push(this.body.slice(this.body.lastIndexOf('\n', at) + 1, at));
    }
    return out;
  }

  /** How many entries (one line each after the leading newline), none parsed. */
  size(): number {
    let n = -1;
    for (let at = this.body.indexOf('\n'); at >= 0; at = this.body.indexOf('\n', at + 1)) n++;
    return n;
  }

  names(): string[] {
    return this.body
      .slice(1, -1)
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.slice(0, l.indexOf(' ')));
  }
}
