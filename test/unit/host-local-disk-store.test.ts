// The disk store on a temporary directory (no root needed): the exact file format, what counts
// as a lease, what release and GC do to the directory, crash leftovers. Owner matching and GC
// selection are the LeaseStore contract (host-local-lease-store.test.ts), run on this store too.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskStore, leaseNameToIP, parseLeaseContent } from '../../ipam/disk-store.ts';
import type { LeaseAdmin, LeaseStore } from '../../ipam/lease-store.ts';
import { ErrorCode } from '../../lib/cni/errors.ts';
import * as addresses from '../../lib/net/address.ts';
import { parseIP } from '../../lib/net/address.ts';
import { errorOf } from '../helpers/cni-error.ts';

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'cnits-store-'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const dir = () => join(dataDir, 'net');
const ip = (s: string) => parseIP(s)!;
const use = <T>(fn: (s: LeaseStore & LeaseAdmin) => T, create = true) => DiskStore.withStore(dataDir, 'net', { create, addresses }, fn);
/** As DEL opens the store: without lib/net/address.ts. */
const useForDel = <T>(fn: (s: LeaseStore & LeaseAdmin) => T) => DiskStore.withStore(dataDir, 'net', { create: false }, fn);

describe('file format', () => {
  it('a lease is "<id>\\r\\n<ifname>" named by the address; last_reserved_ip.<set> holds the address', async () => {
    const ok = await use((s) => s.reserve(ip('fd00::a'), { containerID: 'abc', ifname: 'eth0' }, 1));
    expect(ok).toBe(true);
    expect(readFileSync(join(dir(), 'fd00::a'), 'latin1')).toBe('abc\r\neth0');
    expect(readFileSync(join(dir(), 'last_reserved_ip.1'), 'latin1')).toBe('fd00::a');
    expect(readdirSync(dir()).sort()).toEqual(['fd00::a', 'last_reserved_ip.1', 'lock']);
    expect(statSync(join(dir(), 'lock')).mode & 0o777).toBe(0o750 & ~process.umask());
  });

  it('reserve of a taken address fails without touching the existing lease or last_reserved_ip', async () => {
    mkdirSync(dir());
    writeFileSync(join(dir(), '10.0.0.2'), 'someone\r\neth0');
    const ok = await use((s) => s.reserve(ip('10.0.0.2'), { containerID: 'me', ifname: 'eth0' }, 0));
    expect(ok).toBe(false);
    expect(readFileSync(join(dir(), '10.0.0.2'), 'latin1')).toBe('someone\r\neth0');
    expect(existsSync(join(dir(), 'last_reserved_ip.0'))).toBe(false);
    expect(readdirSync(dir()).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('only canonical address names are leases', () => {
    expect(leaseNameToIP('10.0.0.2', addresses)).toBeDefined();
    expect(leaseNameToIP('fd00::2', addresses)).toBeDefined();
    for (const n of ['10.0.0.02', 'FD00::2', 'fd00:0::2', 'lock', 'last_reserved_ip.0', '.cni-ts-tmp.1.10.0.0.2'])
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
    expect(readdirSync(dir()).sort()).toEqual(['10.0.0.2', '10.0.0.4', '10.0.0.5', 'last_reserved_ip.0', 'lock', 'notes.txt']);
    const freed = await use((s) => s.collectGarbage([]));
    expect(freed!.map((l) => l.name).sort()).toEqual(['10.0.0.2', '10.0.0.4', '10.0.0.5']);
    expect(readdirSync(dir()).sort()).toEqual(['last_reserved_ip.0', 'lock', 'notes.txt']);
  });

  it('DEL, which opens the store without the address module, releases by content among address-like names only', async () => {
    expect(await useForDel((s) => s.releaseByOwner({ containerID: 'a', ifname: 'net1' }))).toEqual(['10.0.0.3']);
    expect(await useForDel((s) => s.releaseByOwner({ containerID: 'b', ifname: 'eth9' }))).toEqual(['10.0.0.4']);
    expect(await useForDel((s) => s.releaseByOwner({ containerID: 'zz', ifname: 'eth0' }))).toEqual([]);
    // notes.txt holds a/eth0 too, but its name is no address: never released
    expect(await useForDel((s) => s.releaseByOwner({ containerID: 'a', ifname: 'eth0' }))).toEqual(['10.0.0.2']);
    expect(readdirSync(dir()).sort()).toEqual(['10.0.0.5', 'last_reserved_ip.0', 'lock', 'notes.txt']);
  });

  it("a crashed writer's temp file is swept the next time the lock is held, and is never a lease", async () => {
    writeFileSync(join(dir(), '.cni-ts-tmp.999.10.0.0.9'), 'c\r\neth0');
    const leases = await use((s) => s.leases().map((l) => l.name));
    expect(leases).not.toContain('.cni-ts-tmp.999.10.0.0.9');
    expect(existsSync(join(dir(), '.cni-ts-tmp.999.10.0.0.9'))).toBe(false);
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
  const dotFiles = () => readdirSync(dir()).filter((n) => n.startsWith('.'));

  it('each reserve links one pending file; a taken address keeps it for the next; unused ones are removed', async () => {
    mkdirSync(dir());
    writeFileSync(join(dir(), '10.0.0.2'), 'someone\r\neth0');
    const seen = await prepared(3, (s) => {
      const before = dotFiles();
      const results = [s.reserve(ip('10.0.0.2'), owner, 0), s.reserve(ip('10.0.0.3'), owner, 0), s.reserve(ip('fd00::3'), owner, 1)];
      return { before, results, after: dotFiles() };
    });
    expect(seen!.before).toHaveLength(3);
    expect(seen!.before.every((n) => n.startsWith(`.cni-ts-pending.${process.pid}.`))).toBe(true);
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
      for (const n of dotFiles()) rmSync(join(dir(), n));
      return s.reserve(ip('10.0.0.9'), owner, 0);
    });
    expect(ok).toBe(true);
    expect(readFileSync(join(dir(), '10.0.0.9'), 'latin1')).toBe('abc\r\neth0');
    expect(dotFiles()).toEqual([]);
  });

  it("another writer's pending file is swept when its PID is gone or it is older than any lock wait, kept otherwise", async () => {
    mkdirSync(dir());
    const dead = '.cni-ts-pending.2147483646.deadbeef.0'; // no such PID
    const live = `.cni-ts-pending.${process.pid}.cafe0000.0`;
    const liveButOld = `.cni-ts-pending.${process.pid}.cafe0001.0`;
    const inLock = `.cni-ts-tmp.${process.pid}.10.0.0.5`; // only ever exists while its writer holds the lock
    for (const n of [dead, live, liveButOld, inLock]) writeFileSync(join(dir(), n), 'x\r\neth0');
    const old = new Date(Date.now() - 3 * 60 * 1000);
    utimesSync(join(dir(), liveButOld), old, old);
    await use(() => undefined);
    expect(dotFiles()).toEqual([live]);
  });
});
