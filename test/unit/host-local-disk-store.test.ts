// The disk store on a temporary directory (no root needed): the exact file format, what counts
// as a lease, what release and GC do to the directory, crash leftovers. Owner matching and GC
// selection are the LeaseStore contract (host-local-lease-store.test.ts), run on this store too.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskStore, directoryStamp, leaseNameToIP, parseLeaseContent } from '../../ipam/disk-store.ts';
import { LeaseIndex } from '../../ipam/lease-index.ts';
import type { LeaseAdmin, LeaseStore } from '../../ipam/lease-store.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import * as addresses from '../../lib/net/address.ts';
import { formatIP, parseIP } from '../../lib/net/address.ts';
import { errorOf } from '../helpers/cni-error.ts';

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'cnits-store-'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const dir = () => join(dataDir, 'net');
const own = () => join(dir(), '.cni-ts');
/** Our files in `.cni-ts/` but the index: temp and pending leases. */
const tempFiles = () => (existsSync(own()) ? readdirSync(own()).filter((n) => n !== 'index') : []);
const ip = (s: string) => parseIP(s)!;
const texts = (ips: ReturnType<typeof ip>[]) => ips.map(formatIP).sort();
const use = <T>(fn: (s: LeaseStore & LeaseAdmin) => T, create = true) => DiskStore.withStore(dataDir, 'net', { create, addresses }, fn);
/** As DEL opens the store: without lib/net/address.ts. */
const useForDel = <T>(fn: (s: LeaseStore & LeaseAdmin) => T) => DiskStore.withStore(dataDir, 'net', { create: false }, fn);

describe('file format', () => {
  it('a lease is "<id>\\r\\n<ifname>" named by the address; last_reserved_ip.<set> holds the address', async () => {
    const ok = await use((s) => s.reserve(ip('fd00::a'), { containerID: 'abc', ifname: 'eth0' }, 1));
    expect(ok).toBe(true);
    expect(readFileSync(join(dir(), 'fd00::a'), 'latin1')).toBe('abc\r\neth0');
    expect(readFileSync(join(dir(), 'last_reserved_ip.1'), 'latin1')).toBe('fd00::a');
    expect(readdirSync(dir()).sort()).toEqual(['.cni-ts', 'fd00::a', 'last_reserved_ip.1', 'lock']);
    expect(readdirSync(own())).toEqual(['index']);
    expect(statSync(join(dir(), 'lock')).mode & 0o777).toBe(0o750 & ~process.umask());
  });

  it('reserve of a taken address fails without touching the existing lease or last_reserved_ip', async () => {
    mkdirSync(dir());
    writeFileSync(join(dir(), '10.0.0.2'), 'someone\r\neth0');
    const ok = await use((s) => s.reserve(ip('10.0.0.2'), { containerID: 'me', ifname: 'eth0' }, 0));
    expect(ok).toBe(false);
    expect(readFileSync(join(dir(), '10.0.0.2'), 'latin1')).toBe('someone\r\neth0');
    expect(existsSync(join(dir(), 'last_reserved_ip.0'))).toBe(false);
    expect(tempFiles()).toEqual([]);
  });

  it('only canonical address names are leases', () => {
    expect(leaseNameToIP('10.0.0.2', addresses)).toBeDefined();
    expect(leaseNameToIP('fd00::2', addresses)).toBeDefined();
    for (const n of ['10.0.0.02', 'FD00::2', 'fd00:0::2', 'lock', 'last_reserved_ip.0', '.cni-ts', '.cni-ts-tmp.1.10.0.0.2'])
      expect(leaseNameToIP(n, addresses)).toBeUndefined();
  });

  it('parses owners, legacy and empty contents', () => {
    expect(parseLeaseContent('abc\r\neth0')).toEqual({ containerID: 'abc', ifname: 'eth0' });
    expect(parseLeaseContent('abc\n')).toEqual({ containerID: 'abc' });
    expect(parseLeaseContent('  \n')).toBeUndefined();
  });
});

describe('release, GC and leftovers on disk', () => {
  beforeEach(() => {
    mkdirSync(dir());
    writeFileSync(join(dir(), '10.0.0.2'), 'a\r\neth0');
    writeFileSync(join(dir(), '10.0.0.3'), 'a\r\nnet1');
    writeFileSync(join(dir(), '10.0.0.4'), 'b'); // legacy
    writeFileSync(join(dir(), '10.0.0.5'), ''); // crashed writer of an older plugin
    writeFileSync(join(dir(), 'last_reserved_ip.0'), '10.0.0.5');
    writeFileSync(join(dir(), 'notes.txt'), 'a\r\neth0'); // not an address: never touched
  });

  // What release and GC select is the LeaseStore contract (host-local-lease-store.test.ts); here, what they do to the files.
  it('release and GC remove lease files only: other files of the directory stay', async () => {
    expect(await use((s) => s.releaseByOwner({ containerID: 'a', ifname: 'net1' }))).toEqual(['10.0.0.3']);
    expect(readdirSync(dir()).sort()).toEqual(['.cni-ts', '10.0.0.2', '10.0.0.4', '10.0.0.5', 'last_reserved_ip.0', 'lock', 'notes.txt']);
    const freed = await use((s) => s.collectGarbage([]));
    expect(freed!.map((l) => l.name).sort()).toEqual(['10.0.0.2', '10.0.0.4', '10.0.0.5']);
    expect(readdirSync(dir()).sort()).toEqual(['.cni-ts', 'last_reserved_ip.0', 'lock', 'notes.txt']);
  });

  it('DEL, which opens the store without the address module, releases by content among address-like names only', async () => {
    expect(await useForDel((s) => s.releaseByOwner({ containerID: 'a', ifname: 'net1' }))).toEqual(['10.0.0.3']);
    expect(await useForDel((s) => s.releaseByOwner({ containerID: 'b', ifname: 'eth9' }))).toEqual(['10.0.0.4']);
    expect(await useForDel((s) => s.releaseByOwner({ containerID: 'zz', ifname: 'eth0' }))).toEqual([]);
    // notes.txt holds a/eth0 too, but its name is no address: never released
    expect(await useForDel((s) => s.releaseByOwner({ containerID: 'a', ifname: 'eth0' }))).toEqual(['10.0.0.2']);
    expect(readdirSync(dir()).sort()).toEqual(['.cni-ts', '10.0.0.5', 'last_reserved_ip.0', 'lock', 'notes.txt']);
  });

  it("a crashed writer's temp file is swept the next time the lock is held, and is never a lease", async () => {
    mkdirSync(own());
    writeFileSync(join(own(), 'tmp.999.10.0.0.9'), 'c\r\neth0');
    writeFileSync(join(dir(), '.cni-ts-tmp.999.10.0.0.8'), 'c\r\neth0'); // where earlier releases kept them
    const leases = await use((s) => s.leases().map((l) => l.name));
    expect(leases).not.toContain('tmp.999.10.0.0.9');
    expect(leases).not.toContain('.cni-ts-tmp.999.10.0.0.8');
    expect(tempFiles()).toEqual([]);
    expect(existsSync(join(dir(), '.cni-ts-tmp.999.10.0.0.8'))).toBe(false);
  });
});

describe('withStore', () => {
  it('without create, a missing directory means "nothing stored" and creates nothing', async () => {
    expect(await use(() => 'ran', false)).toBeUndefined();
    expect(existsSync(dir())).toBe(false);
  });

  it('a data directory path that is a file is an I/O error (5)', async () => {
    writeFileSync(join(dataDir, 'net'), '');
    const err = await errorOf(() => use(() => 'ran', false));
    expect(err.code).toBe(ErrorCode.IoFailure);
  });

  it('refuses a network name that would leave the data directory', async () => {
    const err = await errorOf(() => DiskStore.withStore(dataDir, '../x', { create: true }, () => 'ran'));
    expect(err.code).toBe(ErrorCode.InvalidConfig);
    expect(existsSync(join(dataDir, '..', 'x'))).toBe(false);
  });
});

describe('pending leases (written and synced before the lock, linked under it)', () => {
  const owner = { containerID: 'abc', ifname: 'eth0' };
  const prepared = <T>(count: number, fn: (s: LeaseStore & LeaseAdmin) => T) =>
    DiskStore.withStore(dataDir, 'net', { create: true, prepare: { content: 'abc\r\neth0', count }, addresses }, fn);
  const dotFiles = tempFiles;

  it('each reserve links one pending file; a taken address keeps it for the next; unused ones are removed', async () => {
    mkdirSync(dir());
    writeFileSync(join(dir(), '10.0.0.2'), 'someone\r\neth0');
    const seen = await prepared(3, (s) => {
      const before = dotFiles();
      const results = [s.reserve(ip('10.0.0.2'), owner, 0), s.reserve(ip('10.0.0.3'), owner, 0), s.reserve(ip('fd00::3'), owner, 1)];
      return { before, results, after: dotFiles() };
    });
    expect(seen!.before).toHaveLength(3);
    expect(seen!.before.every((n) => n.startsWith(`pending.${process.pid}.`))).toBe(true);
    expect(seen!.results).toEqual([false, true, true]);
    expect(seen!.after).toHaveLength(1); // two linked and removed, one never needed
    expect(readFileSync(join(dir(), '10.0.0.2'), 'latin1')).toBe('someone\r\neth0');
    expect(readFileSync(join(dir(), '10.0.0.3'), 'latin1')).toBe('abc\r\neth0');
    expect(readFileSync(join(dir(), 'fd00::3'), 'latin1')).toBe('abc\r\neth0');
    expect(statSync(join(dir(), '10.0.0.3')).nlink).toBe(1);
    expect(dotFiles()).toEqual([]);
  });

  it('a pending file swept by another process before the link: the lease is written under the lock instead', async () => {
    const ok = await prepared(1, (s) => {
      for (const n of dotFiles()) rmSync(join(own(), n));
      return s.reserve(ip('10.0.0.9'), owner, 0);
    });
    expect(ok).toBe(true);
    expect(readFileSync(join(dir(), '10.0.0.9'), 'latin1')).toBe('abc\r\neth0');
    expect(dotFiles()).toEqual([]);
  });

  it("another writer's pending file is swept when its PID is gone or it is older than any lock wait, kept otherwise", async () => {
    mkdirSync(own(), { recursive: true });
    const dead = 'pending.2147483646.deadbeef.0'; // no such PID
    const live = `pending.${process.pid}.cafe0000.0`;
    const liveButOld = `pending.${process.pid}.cafe0001.0`;
    const inLock = `tmp.${process.pid}.10.0.0.5`; // only ever exists while its writer holds the lock
    for (const n of [dead, live, liveButOld, inLock]) writeFileSync(join(own(), n), 'x\r\neth0');
    // Earlier releases' pending files, in the network directory itself: the same rule.
    const oldDead = '.cni-ts-pending.2147483646.deadbeef.0';
    const oldLive = `.cni-ts-pending.${process.pid}.cafe0002.0`;
    for (const n of [oldDead, oldLive]) writeFileSync(join(dir(), n), 'x\r\neth0');
    const old = new Date(Date.now() - 3 * 60 * 1000);
    utimesSync(join(own(), liveButOld), old, old);
    await use(() => undefined);
    expect(dotFiles()).toEqual([live]);
    expect(readdirSync(dir()).filter((n) => n.startsWith('.cni-ts-'))).toEqual([oldLive]);
  });
});

describe('the lease index (.cni-ts/index)', () => {
  const a = { containerID: 'a', ifname: 'eth0' };
  const b = { containerID: 'b', ifname: 'eth0' };
  const indexPath = () => join(own(), 'index');
  const indexText = () => readFileSync(indexPath(), 'latin1');
  const trusted = () => LeaseIndex.parse(indexText(), directoryStamp(dir()).stamp) !== undefined;

  it('is written after a change and describes the leases; the directory mtime is set a second before its ctime', async () => {
    await use((s) => s.reserve(ip('10.0.0.2'), a, 0));
    expect(trusted()).toBe(true);
    expect(LeaseIndex.parse(indexText(), directoryStamp(dir()).stamp)!.names()).toEqual(['10.0.0.2']);
    const t = statSync(dir(), { bigint: true });
    expect(t.ctimeNs - t.mtimeNs).toBeGreaterThan(0n);
    expect(t.ctimeNs - t.mtimeNs).toBeLessThan(3_000_000_000n);
  });

  it('a hold that changes nothing rewrites nothing', async () => {
    await use((s) => s.reserve(ip('10.0.0.2'), a, 0));
    const before = [statSync(dir(), { bigint: true }).ctimeNs, statSync(indexPath(), { bigint: true }).mtimeNs];
    expect(await use((s) => s.releaseByOwner(b))).toEqual([]);
    expect(await use((s) => texts(s.leasesOf(a)))).toEqual(['10.0.0.2']);
    expect([statSync(dir(), { bigint: true }).ctimeNs, statSync(indexPath(), { bigint: true }).mtimeNs]).toEqual(before);
  });

  it('leases another writer (the reference) creates, replaces or removes are seen at once, also right after our hold', async () => {
    // (On kernels with multigrain timestamps the directory's stamp changes on every entry change
    // anyway; on others the change can land in the clock tick of our own, which is what the
    // directory mtime set in the past covers.)
    for (let i = 0; i < 20; i++) {
      const addr = `10.0.0.${10 + i}`;
      await use((s) => s.reserve(ip(addr), a, 0));
      // Right after our hold, as the reference would: the lease released and taken by b, and a new one for b.
      rmSync(join(dir(), addr));
      writeFileSync(join(dir(), addr), 'b\r\neth0', { flag: 'wx' });
      writeFileSync(join(dir(), `10.0.1.${i}`), 'b\r\neth0', { flag: 'wx' });
      expect(await use((s) => texts(s.leasesOf(a)))).toEqual([]);
      expect(await use((s) => texts(s.leasesOf(b)).length)).toBe(2 * (i + 1));
      expect(await use((s) => s.isLeased(ip(`10.0.1.${i}`)))).toBe(true);
      rmSync(join(dir(), `10.0.1.${i}`));
      expect(await use((s) => s.isLeased(ip(`10.0.1.${i}`)))).toBe(false);
      writeFileSync(join(dir(), `10.0.1.${i}`), 'b\r\neth0', { flag: 'wx' });
    }
  });

  it('a lease edited in place is not noticed, but never makes a DEL release a lease that is not its own', async () => {
    await use((s) => s.reserve(ip('10.0.0.2'), a, 0));
    writeFileSync(join(dir(), '10.0.0.2'), 'b\r\neth0'); // same entry, new content: the directory does not change
    expect(trusted()).toBe(true);
    expect(await use((s) => s.leasesOf(a))).toEqual([]); // the index points at it; the read shows it is b's
    expect(await use((s) => s.releaseByOwner(a))).toEqual([]);
    expect(readFileSync(join(dir(), '10.0.0.2'), 'latin1')).toBe('b\r\neth0');
    // GC reads every lease: b's lease is b's.
    expect(await use((s) => s.collectGarbage([{ containerID: 'b', ifname: 'eth0' }]))).toEqual([]);
  });

  it('an index cut short, from another stamp, or missing is not trusted: every lease is read and a new index written', async () => {
    await use((s) => {
      s.reserve(ip('10.0.0.2'), a, 0);
      s.reserve(ip('10.0.0.3'), b, 0);
    });
    const good = indexText();
    for (const broken of [good.slice(0, good.length - 3), good.replace(/\/\d+\n/, '/1\n'), '']) {
      writeFileSync(indexPath(), broken.replace('10.0.0.3', '10.0.0.9'));
      expect(await use((s) => [texts(s.leasesOf(b)), s.isLeased(ip('10.0.0.9'))])).toEqual([['10.0.0.3'], false]);
    }
    rmSync(indexPath());
    expect(await use((s) => texts(s.leasesOf(b)))).toEqual(['10.0.0.3']);
    expect(trusted()).toBe(true);
  });

  it('a hold ending in an unexpected error drops the index; the allocator refusing an address keeps it', async () => {
    await use((s) => s.reserve(ip('10.0.0.2'), a, 0));
    await errorOf(() =>
      use(() => {
        throw new CniError(ErrorCode.AddressExhausted, 'no addresses');
      }),
    );
    expect(trusted()).toBe(true);
    await expect(
      use(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(existsSync(indexPath())).toBe(false);
    expect(await use((s) => texts(s.leasesOf(a)))).toEqual(['10.0.0.2']);
  });
});
