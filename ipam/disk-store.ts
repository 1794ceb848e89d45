// The reference host-local's on-disk store, byte for byte, so our plugin and
// the Go one can share a data directory on a live node:
//
//   <dataDir>/<network>/              mode 0755
//     lock                            empty, mode 0750, flock(2) LOCK_EX around every operation
//     <ip>                            one lease per address: "<containerID>\r\n<ifname>" (0644)
//     last_reserved_ip.<set index>    the last address reserved in that range set, no newline
//     .cni-ts/                        ours alone (below); the reference never takes it for a lease
//
// What we do better than the reference: a lease never exists half-written. It is written to a
// temp file, fdatasync'ed, then link(2)ed to its address name — link fails with EEXIST when the
// address is taken (the O_EXCL semantics) and is atomic, so a kill -9 or power loss at any
// instant leaves either no lease or a complete one. Every method here runs with the lock held by
// `withStore`.
//
// The content of an ADD's leases is known before any address is chosen, so ADD writes and syncs
// them as "pending" files before it takes the lock (PendingLeases) and only links them under it: the
// flush to disk (~1 ms) no longer holds up every other ADD of the node. The flush runs off the
// JavaScript thread, started before ADD has even loaded its address code (ipam/host-local.ts), so
// it costs ADD nothing but the wait for whichever of the two ends last. Temp files of the
// in-lock kind are always leftovers when we hold the lock; a pending file is one only when its
// writer's PID is gone (or it is older than any lock wait). Deleting a live writer's pending file
// by mistake (PID namespaces) costs that writer nothing but speed: it then writes under the lock.
// Both live in `.cni-ts/`, never in the network directory itself (see the index, below); names
// that are not addresses, so the reference (which reads every file under the network directory)
// never counts them as leases.
//
// Lease files are named by Go's text form of their address, and only such names are leases. The
// callers that work with addresses (ADD, CHECK, STATUS, GC) hand the store lib/net/address.ts,
// which they load anyway; a name is parsed only where an address is wanted (under the lock an ADD
// parses none but its own). DEL does not load it: its leases are found by content, as the
// reference's DEL finds them, among the names made of address characters (see releaseByOwner).
//
// The lease index (lease-index.ts, in `.cni-ts/index`) spares ADD and DEL from reading every lease
// file of the network (the reference's way, ~36 µs a lease here). It is trusted only while the
// network directory is provably unchanged since it was written, whoever changed it: a lease is only
// ever created or removed as a directory entry (the reference creates with O_EXCL and never rewrites
// one; we link a finished file), and every entry change sets the directory's mtime and ctime to
// one same instant. Before writing the index we set the directory's mtime to a second in the past,
// so mtime ≠ ctime, and record both (with the directory's identity and the boot ID): a later entry
// change would have to land on both recorded values at once, which it cannot, as they differ. No
// clock or timestamp granularity is assumed. The index is spoilt before the directory's mtime is
// set and written after, so a writer killed in between leaves no index (the next command reads the
// leases again); the boot ID rules out a power loss that kept the index but not a lease's content.
// Not noticed: a lease file edited in place by hand (no entry change) until the next entry change;
// every lease an index lookup points to is read before it counts, so such an edit can hide a lease
// from its new owner's DEL (GC, which reads every lease, still finds it) but never releases a lease
// of someone else.

import { CniError, ErrorCode } from '../lib/cni/errors.ts';
import type { Attachment } from '../lib/cni/types.ts';
import type * as AddressModule from '../lib/net/address.ts';
import type { IP } from '../lib/net/address.ts';
import {
  closeSync,
  constants,
  fdatasyncAsync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  setMtimeSync,
  statSync,
  statTimesSync,
  unlinkSync,
  writeSync,
} from '../lib/platform/fs.ts';
import { randomBytesHex } from '../lib/platform/hash.ts';
import { LOCK_WAIT_SECONDS, withFileLock } from '../lib/platform/lock.ts';
import { warn } from '../lib/platform/output.ts';
import { join } from '../lib/platform/path.ts';
import { LeaseIndex, ownerDigest } from './lease-index.ts';
import type { Lease, LeaseAdmin, LeaseStore, Owner } from './lease-store.ts';
import { estimatedRangeSets, networkDir, parseStoreLocation } from './store-location.ts';

export const LOCK_FILE = 'lock';
export const LAST_RESERVED_PREFIX = 'last_reserved_ip.';
/** Our own files: the lease index and temp files. Starts with "." and is a directory: never a lease. */
export const OWN_DIR = '.cni-ts';
export const INDEX_FILE = 'index';
const TMP_PREFIX = 'tmp.';
const PENDING_PREFIX = 'pending.';
/** Where earlier releases kept their temp files (the network directory itself): swept when it is listed. */
const OLD_TMP_PREFIX = '.cni-ts-tmp.';
const OLD_PENDING_PREFIX = '.cni-ts-pending.';
/** A pending file older than this is a leftover whatever its PID says (a live writer gives up waiting for the lock sooner). */
const PENDING_STALE_MS = 2 * LOCK_WAIT_SECONDS * 1000;
const LINE_BREAK = '\r\n';
const LEASE_MODE = 0o644; // as the Debian reference (1.1.1) creates them
const DIR_MODE = 0o755;
const LOCK_MODE = 0o750;
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/** The attachment a request is for: a lease's owner. */
export const ownerOf = (req: { env: { containerID: string; ifname: string } }): Owner => ({
  containerID: req.env.containerID,
  ifname: req.env.ifname,
});

export const leaseContent = (o: Owner): string => `${o.containerID.trim()}${LINE_BREAK}${o.ifname}`;

/** Owner recorded in a lease file; `ifname` is absent in legacy leases. undefined when empty. */
export function parseLeaseContent(content: string): { containerID: string; ifname?: string } | undefined {
  const t = content.trim();
  if (t === '') return undefined;
  const i = t.indexOf(LINE_BREAK);
  return i < 0 ? { containerID: t } : { containerID: t.slice(0, i), ifname: t.slice(i + LINE_BREAK.length) };
}

/** What the store needs of lib/net/address.ts: lease names are Go's text form of the address. */
export type LeaseAddresses = Pick<typeof AddressModule, 'formatIP' | 'parseIP'>;

/** The address a lease file name stands for; only Go's canonical text form counts. */
export function leaseNameToIP(name: string, addresses: LeaseAddresses): IP | undefined {
  const ip = addresses.parseIP(name);
  return ip && addresses.formatIP(ip) === name ? ip : undefined;
}

/** A name that may be a lease: made of the characters of Go's address text (the lock, last_reserved_ip.N and our dot-files are not). */
const mayBeLease = (name: string): boolean => /^[0-9a-f.:]+$/.test(name);

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

function ioError(what: string, e: unknown): CniError {
  return new CniError(ErrorCode.IoFailure, `host-local: ${what}`, (e as Error).message);
}

let bootId: string | undefined;
/** This boot's ID ('' when the kernel has none to give): an index written in another boot is never trusted. */
function currentBootId(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync(BOOT_ID, 'utf8').trim();
    } catch {
      bootId = '';
    }
  }
  return bootId;
}

/**
 * What identifies the state of the network directory's entries (see the header): the boot, the
 * directory's identity, its mtime and ctime to the nanosecond. `settled` when mtime ≠ ctime.
 */
export function directoryStamp(dir: string): { stamp: string; settled: boolean } {
  const t = statTimesSync(dir);
  return { stamp: `${currentBootId()}/${t.dev}:${t.ino}/${t.mtimeNs}/${t.ctimeNs}`, settled: t.mtimeNs !== t.ctimeNs };
}

/** Errors after which the store is still exactly what the index says (the allocator's refusals). */
const EXPECTED_CODES: ReadonlySet<number> = new Set([
  ErrorCode.AddressExhausted,
  ErrorCode.AddressUnavailable,
  ErrorCode.DuplicateAllocation,
]);

export class DiskStore implements LeaseStore, LeaseAdmin {
  private readonly own: string;
  /**
   * The names that may be leases, with owner digests, kept current as we reserve and release; the
   * ones that are not an address's text are dropped where an address is wanted (see the header).
   */
  private readonly index: LeaseIndex;
  /** The index differs from `.cni-ts/index` (rebuilt, or changed by this hold). */
  private dirty = false;
  /** Lease file contents read during this hold (a file is read at most once). */
  private readonly contents = new Map<string, string | undefined>();
  /** This ADD's pending lease files (in `.cni-ts/`), synced before the lock was taken; reserve() links them. */
  private readonly pending: string[];

  private constructor(
    readonly dir: string,
    pending: readonly string[],
    private readonly addresses: LeaseAddresses | undefined,
  ) {
    this.own = join(dir, OWN_DIR);
    this.pending = [...pending];
    const loaded = this.loadIndex();
    if (loaded) this.index = loaded;
    else {
      this.index = this.readAllLeases();
      this.dirty = true;
    }
    this.sweepOwnDir();
  }

  /**
   * Take the network's lock and run `fn` with the store. `create` makes the directory (ADD);
   * without it a missing directory means "nothing stored" and `fn` is not called. `addresses`
   * (lib/net/address.ts) is needed by every method that takes or returns an address.
   */
  static async withStore<T>(
    dataDir: string,
    network: string,
    opts: {
      create: boolean;
      waitSeconds?: number;
      pending?: PendingLeases;
      prepare?: { content: string; count: number };
      addresses?: LeaseAddresses;
    },
    fn: (store: LeaseStore & LeaseAdmin) => T | Promise<T>,
  ): Promise<T | undefined> {
    const dir = networkDir(dataDir, network);
    if (opts.create) {
      try {
        mkdirSync(join(dir, OWN_DIR), { recursive: true, mode: DIR_MODE });
      } catch (e) {
        throw ioError(`cannot create data directory ${dir}`, e);
      }
    } else {
      try {
        if (!statSync(dir).isDirectory()) throw new CniError(ErrorCode.IoFailure, `host-local: ${dir} is not a directory`);
      } catch (e) {
        if (errno(e) === 'ENOENT') return undefined;
        throw e instanceof CniError ? e : ioError(`cannot access data directory ${dir}`, e);
      }
    }
    const pending =
      opts.pending?.dir === dir ? opts.pending : opts.prepare && PendingLeases.write(dir, opts.prepare.content, opts.prepare.count);
    try {
      // Linked under the lock only once on disk: a lease never exists half-written.
      const flushed = await pending?.flushed;
      if (flushed) throw ioError(`cannot write ${join(dir, OWN_DIR, pending!.names[0] ?? '')}`, flushed);
      return await withFileLock(
        join(dir, LOCK_FILE),
        async () => {
          const store = new DiskStore(dir, pending?.names ?? [], opts.addresses);
          let intact = false;
          try {
            const result = await fn(store);
            intact = true;
            return result;
          } catch (e) {
            intact = e instanceof CniError && EXPECTED_CODES.has(e.code);
            throw e;
          } finally {
            store.finish(intact);
          }
        },
        opts.waitSeconds ?? LOCK_WAIT_SECONDS,
        LOCK_MODE,
      );
    } finally {
      pending?.discard(); // the ones not linked (or already removed)
    }
  }

  private address(): LeaseAddresses {
    if (!this.addresses) throw new Error('host-local: the disk store was opened without lib/net/address.ts');
    return this.addresses;
  }

  // ---- LeaseStore (the allocator's view) ----

  isLeased(ip: IP): boolean {
    return this.index.has(this.address().formatIP(ip));
  }

  reserve(ip: IP, owner: Owner, setIndex: number): boolean {
    const name = this.address().formatIP(ip);
    const content = leaseContent(owner);
    const linked = this.linkPending(name);
    if (linked === 'taken') return false;
    if (linked === 'no pending file') {
      const tmp = `${TMP_PREFIX}${process.pid}.${name}`;
      writeFileDurably(this.own, tmp, content);
      try {
        linkSync(join(this.own, tmp), join(this.dir, name));
      } catch (e) {
        this.removeOwn(tmp);
        if (errno(e) === 'EEXIST') {
          this.noteExisting(name);
          return false;
        }
        throw ioError(`cannot create lease ${join(this.dir, name)}`, e);
      }
      this.removeOwn(tmp);
    }
    this.contents.set(name, content);
    this.index.set(name, ownerDigest(content));
    this.dirty = true;
    this.writeLastReserved(setIndex, name);
    return true;
  }

  release(ip: IP): void {
    this.removeLease(this.address().formatIP(ip));
  }

  lastReserved(setIndex: number): IP | undefined {
    try {
      return this.address().parseIP(readFileSync(join(this.dir, `${LAST_RESERVED_PREFIX}${setIndex}`), 'utf8').trim()) ?? undefined;
    } catch {
      return undefined; // missing or unreadable: round-robin restarts at the range start, as in Go
    }
  }

  leasesOf(owner: Owner): IP[] {
    const addresses = this.address();
    return this.leaseNamesOf([leaseContent(owner), owner.containerID.trim()]).flatMap((name) => leaseNameToIP(name, addresses) ?? []);
  }

  // ---- LeaseAdmin (DEL / GC / CHECK / STATUS) ----

  /** Every lease with its recorded owner. */
  leases(): Lease[] {
    const addresses = this.address();
    return this.index.names().flatMap((name) => {
      const ip = leaseNameToIP(name, addresses);
      if (!ip) return [];
      const content = this.contentOf(name);
      return [{ ip, name, owner: content === undefined ? undefined : parseLeaseContent(content) }];
    });
  }

  /** Without reading any lease file. */
  leasedAddresses(): IP[] {
    const addresses = this.address();
    return this.index.names().flatMap((name) => leaseNameToIP(name, addresses) ?? []);
  }

  /** The names that may be leases (see the header), none parsed. */
  leaseCountAtMost(): number {
    return this.index.size();
  }

  /**
   * Found by content; with lib/net/address.ts, only names that are an address's text count.
   * Without it (DEL), a name of address characters holding exactly this owner counts: the
   * reference's DEL takes any file holding it.
   */
  releaseByOwner(owner: Owner): string[] {
    const isLease = (name: string) => !this.addresses || leaseNameToIP(name, this.addresses) !== undefined;
    let victims = this.leaseNamesOf([leaseContent(owner)]).filter(isLease);
    if (victims.length === 0) victims = this.leaseNamesOf([owner.containerID.trim()]).filter(isLease);
    for (const name of victims) this.removeLease(name);
    return victims;
  }

  /**
   * An empty lease was left by a writer that crashed between create and write (the reference
   * writes in place; we hold the lock, so none is in progress): it belongs to nobody and goes.
   */
  collectGarbage(valid: Attachment[]): Lease[] {
    const keep = new Set(valid.map((a) => leaseContent(a)));
    const ids = new Set(valid.map((a) => a.containerID.trim()));
    const victims = this.leases().filter((l) => {
      if (!l.owner) return true;
      if (l.owner.ifname === undefined) return !ids.has(l.owner.containerID);
      return !keep.has(leaseContent({ containerID: l.owner.containerID, ifname: l.owner.ifname }));
    });
    for (const v of victims) this.removeLease(v.name);
    return victims;
  }

  // ---- the index ----

  /**
   * Names of the leases whose trimmed content is one of `wanted` (as the reference compares): the
   * index says which leases may match, each of them is read to make sure.
   */
  private leaseNamesOf(wanted: string[]): string[] {
    const names = new Set(wanted.flatMap((w) => this.index.namesWith(ownerDigest(w))));
    return [...names].filter((n) => {
      const c = this.contentOf(n)?.trim();
      return c !== undefined && wanted.includes(c);
    });
  }

  private contentOf(name: string): string | undefined {
    if (!this.contents.has(name)) {
      let content: string | undefined;
      try {
        content = readFileSync(join(this.dir, name), 'utf8');
      } catch {
        /* vanished or not a file: no owner */
      }
      this.contents.set(name, content);
    }
    return this.contents.get(name);
  }

  /** The index of `.cni-ts/index`, if it describes the directory as it is now. */
  private loadIndex(): LeaseIndex | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.own, INDEX_FILE), 'utf8');
    } catch {
      return undefined;
    }
    try {
      return LeaseIndex.parse(text, directoryStamp(this.dir).stamp);
    } catch {
      return undefined;
    }
  }

  /** Every name that may be a lease with its owner, read file by file (the reference's way); sweeps our old temp files. */
  private readAllLeases(): LeaseIndex {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      throw ioError(`cannot read data directory ${this.dir}`, e);
    }
    // Built in one pass (set() would search the growing index once per lease).
    const entries: [string, string][] = [];
    for (const name of names) {
      if (name.startsWith(OLD_TMP_PREFIX)) removeQuietly(this.dir, name);
      else if (name.startsWith(OLD_PENDING_PREFIX) && isLeftoverPending(this.dir, name, OLD_PENDING_PREFIX)) removeQuietly(this.dir, name);
      else if (mayBeLease(name)) entries.push([name, ownerDigest(this.contentOf(name))]);
    }
    return LeaseIndex.of(entries);
  }

  /** Temp files of crashed writers in `.cni-ts/` (a small directory: only ADDs in flight have files there). */
  private sweepOwnDir(): void {
    let names: string[];
    try {
      names = readdirSync(this.own);
    } catch {
      return; // not made yet
    }
    for (const name of names) {
      if (name.startsWith(TMP_PREFIX)) this.removeOwn(name);
      else if (name.startsWith(PENDING_PREFIX) && !this.pending.includes(name) && isLeftoverPending(this.own, name, PENDING_PREFIX))
        this.removeOwn(name);
    }
  }

  /**
   * End of the lock hold: write the index back if it changed, so the next command can trust it.
   * When the hold ended in an unexpected error the index is dropped instead (the next command
   * reads every lease again).
   */
  private finish(intact: boolean): void {
    if (!intact) {
      removeQuietly(this.own, INDEX_FILE);
      return;
    }
    if (!this.dirty) return;
    try {
      mkdirSync(this.own, { recursive: true, mode: DIR_MODE }); // before the directory's mtime is set: it may add an entry
      const fd = openSync(join(this.own, INDEX_FILE), constants.O_RDWR | constants.O_CREAT, LEASE_MODE);
      try {
        // No index while the directory's stamp changes (see the header): its first byte spoilt.
        // Overwritten in place, never cut to nothing: ext4 flushes a file truncated to zero
        // bytes when it is closed (auto_da_alloc), ~0.1 ms inside the lock.
        const size = fstatSync(fd).size;
        if (size > 0) writeSync(fd, '#', 0);
        setMtimeSync(this.dir, Math.floor(Date.now() / 1000) - 1);
        const { stamp, settled } = directoryStamp(this.dir);
        if (!settled) return; // mtime = ctime (a file system with coarse timestamps): no index at all
        const text = this.index.format(stamp);
        if (writeSync(fd, text, 0) !== text.length) writeSync(fd, '#', 0);
        else if (size > text.length) ftruncateSync(fd, text.length); // a kill before this leaves a tail the parser ignores
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      removeQuietly(this.own, INDEX_FILE);
      warn(`host-local: cannot write the lease index of ${this.dir} (every lease is read next time): ${(e as Error).message}\n`);
    }
  }

  // ---- file helpers ----

  /** `name` exists on disk: make sure the index has it (it always should, while we hold the lock). */
  private noteExisting(name: string): void {
    if (this.index.has(name)) return;
    this.index.set(name, ownerDigest(this.contentOf(name)));
    this.dirty = true;
  }

  /**
   * Link the next pending file (written for this owner before the lock) to `name`. 'no pending
   * file' when none is left or another process removed it (then the caller writes one now).
   */
  private linkPending(name: string): 'linked' | 'taken' | 'no pending file' {
    while (this.pending.length) {
      const pending = this.pending[0]!;
      try {
        linkSync(join(this.own, pending), join(this.dir, name));
      } catch (e) {
        if (errno(e) === 'EEXIST') {
          this.noteExisting(name);
          return 'taken'; // keep the pending file for the next candidate
        }
        this.pending.shift();
        if (errno(e) === 'ENOENT') continue; // swept by another process: try the next one
        throw ioError(`cannot create lease ${join(this.dir, name)}`, e);
      }
      this.pending.shift();
      this.removeOwn(pending); // the lease name keeps the file
      return 'linked';
    }
    return 'no pending file';
  }

  /** last_reserved_ip.<set>: the last address given out from that range set (where the next search starts). */
  private writeLastReserved(setIndex: number, name: string): void {
    // Overwritten in place, then cut to length. Not temp file + rename: replacing a file by rename
    // makes ext4 flush the new one at once (auto_da_alloc), ~0.5 ms inside the lock on every ADD.
    // Nor O_TRUNC + write as the reference does: a crash between them leaves it empty. A crash
    // between our write and truncate can leave the old text's tail (10.0.0.10 → "10.0.0.90"):
    // harmless, as the file is only where the round-robin search starts — every candidate is
    // checked against the leases, the one source of truth.
    const path = join(this.dir, `${LAST_RESERVED_PREFIX}${setIndex}`);
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, LEASE_MODE);
      try {
        ftruncateSync(fd, writeSync(fd, name));
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      // Only round-robin fairness depends on this file; the lease itself is already safe.
      warn(`host-local: cannot record last reserved address: ${(e as Error).message}\n`);
    }
  }

  private removeLease(name: string): void {
    try {
      unlinkSync(join(this.dir, name));
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw ioError(`cannot remove lease ${join(this.dir, name)}`, e);
    }
    this.index.delete(name);
    this.contents.delete(name);
    this.dirty = true;
  }

  private removeOwn(name: string): void {
    removeQuietly(this.own, name);
  }
}

/** A pending file `name` in `dir` ("<prefix><pid>.<random>.<n>") whose writer is gone: its PID has no /proc entry, or it is older than any lock wait. */
function isLeftoverPending(dir: string, name: string, prefix: string): boolean {
  const pid = Number(name.slice(prefix.length).split('.')[0]);
  try {
    statSync(`/proc/${pid}`);
  } catch {
    return true;
  }
  try {
    return Date.now() - statSync(join(dir, name)).mtimeMs > PENDING_STALE_MS;
  } catch {
    return false; // already gone
  }
}

function removeQuietly(dir: string, name: string): void {
  try {
    unlinkSync(join(dir, name));
  } catch {
    /* already gone */
  }
}

/** Write `content` to a new file in `dir` and flush it to disk; a failure removes the file. */
function writeFileDurably(dir: string, name: string, content: string): void {
  const path = join(dir, name);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, LEASE_MODE);
  } catch (e) {
    throw ioError(`cannot write ${path}`, e);
  }
  try {
    writeSync(fd, content);
    fdatasyncSync(fd);
  } catch (e) {
    closeSync(fd);
    removeQuietly(dir, name);
    throw ioError(`cannot write ${path}`, e);
  }
  closeSync(fd);
}

/**
 * An ADD's lease files, written before the lock and flushed to disk off the JavaScript thread
 * (see the header): named for this process, in the network directory's `.cni-ts/`, linked to their
 * addresses by DiskStore.reserve.
 */
export class PendingLeases {
  private constructor(
    /** The network directory (the files are in its `.cni-ts/`). */
    readonly dir: string,
    readonly names: string[],
    /** Resolves when every file is on disk: with the error when one could not be flushed (never rejects). */
    readonly flushed: Promise<Error | undefined>,
  ) {}

  /** `count` files holding `content` in `dir`'s `.cni-ts/`, their flush started; throws (removing them) when one cannot be written. */
  static write(dir: string, content: string, count: number): PendingLeases {
    const own = join(dir, OWN_DIR);
    const names: string[] = [];
    const flushes: Array<Promise<Error | undefined>> = [];
    try {
      for (let i = 0; i < count; i++) {
        const name = `${PENDING_PREFIX}${process.pid}.${randomBytesHex(4)}.${i}`;
        const fd = openSync(join(own, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, LEASE_MODE);
        names.push(name);
        try {
          writeSync(fd, content);
        } catch (e) {
          closeSync(fd);
          throw e;
        }
        // The descriptor stays open until its flush has ended.
        flushes.push(
          fdatasyncAsync(fd)
            .then(
              () => undefined,
              (e: Error) => e,
            )
            .finally(() => closeSync(fd)),
        );
      }
    } catch (e) {
      for (const name of names) removeQuietly(own, name);
      throw ioError(`cannot write ${join(own, names[names.length - 1] ?? PENDING_PREFIX)}`, e);
    }
    return new PendingLeases(
      dir,
      names,
      Promise.all(flushes).then((errors) => errors.find((e) => e !== undefined)),
    );
  }

  /**
   * Started by an ADD before it has validated its config (ipam/host-local.ts): only into a network
   * directory (and its `.cni-ts/`) that exists already (an invalid config must leave the disk as it
   * was; discard() removes the files again), sized by the config's range sets as written. undefined
   * when that cannot be done; ADD then writes its leases when it opens the store.
   */
  static start(req: { config: Record<string, unknown>; env: { containerID: string; ifname: string } }): PendingLeases | undefined {
    try {
      const loc = parseStoreLocation(req.config);
      const dir = networkDir(loc.dataDir, loc.network);
      if (!statSync(join(dir, OWN_DIR)).isDirectory()) return undefined;
      return PendingLeases.write(dir, leaseContent(ownerOf(req)), estimatedRangeSets(req.config));
    } catch {
      return undefined;
    }
  }

  /** Remove the files not linked (or already removed by another process's sweep). */
  discard(): void {
    for (const name of this.names.splice(0)) removeQuietly(join(this.dir, OWN_DIR), name);
  }
}
