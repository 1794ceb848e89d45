// One contract for host-local's lease storage (ipam/lease-store.ts), run against the in-memory
// double the allocator tests use and against the disk store on a temporary directory: whatever
// the unit tests learn from the double holds for the store the plugin runs with.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allocateAll } from '../../ipam/allocator.ts';
import { parseHostLocalConfig } from '../../ipam/config.ts';
import { DiskStore } from '../../ipam/disk-store.ts';
import type { LeaseAdmin, LeaseStore } from '../../ipam/lease-store.ts';
import * as addresses from '../../lib/net/address.ts';
import { formatIP, parseIP } from '../../lib/net/address.ts';
import { MemoryStore } from '../helpers/memory-store.ts';

type Store = LeaseStore & LeaseAdmin;

/** A store under test: `use` runs `fn` as one lock hold would; `plant` puts a lease's raw content in place beforehand. */
interface Subject {
  use<T>(fn: (store: Store) => T): Promise<T>;
  plant(address: string, content: string): void;
  cleanup(): void;
}

function memory(): Subject {
  const store = new MemoryStore();
  return {
    use: async (fn) => fn(store),
    plant: (address, content) => void store.leaseContents.set(address, content),
    cleanup: () => undefined,
  };
}

/** Every `use` is a new lock hold with a new DiskStore, so what one hold wrote is read back from disk by the next. */
function disk(): Subject {
  const dataDir = mkdtempSync(join(tmpdir(), 'cnits-contract-'));
  mkdirSync(join(dataDir, 'net'));
  return {
    use: async (fn) => (await DiskStore.withStore(dataDir, 'net', { create: true, addresses }, fn)) as Awaited<ReturnType<typeof fn>>,
    plant: (address, content) => writeFileSync(join(dataDir, 'net', address), content),
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

const ip = (s: string) => parseIP(s)!;
const texts = (ips: ReturnType<typeof ip>[]) => ips.map(formatIP).sort();
const a0 = { containerID: 'a', ifname: 'eth0' };
const a1 = { containerID: 'a', ifname: 'net1' };
const b0 = { containerID: 'b', ifname: 'eth0' };

describe.each([
  ['memory', memory],
  ['disk', disk],
])('LeaseStore contract: %s store', (_kind, make) => {
  let s: Subject;
  beforeEach(() => {
    s = make();
  });
  afterEach(() => s.cleanup());

  describe('LeaseStore (the allocator)', () => {
    it('reserve leases a free address once; a second reserve of it fails and keeps the first owner', async () => {
      expect(await s.use((st) => st.isLeased(ip('10.0.0.2')))).toBe(false);
      expect(await s.use((st) => st.reserve(ip('10.0.0.2'), a0, 0))).toBe(true);
      expect(await s.use((st) => st.isLeased(ip('10.0.0.2')))).toBe(true);
      expect(await s.use((st) => st.reserve(ip('10.0.0.2'), b0, 0))).toBe(false);
      expect(await s.use((st) => texts(st.leasesOf(a0)))).toEqual(['10.0.0.2']);
      expect(await s.use((st) => st.leasesOf(b0))).toEqual([]);
    });

    it('a failed reserve does not move the last reserved address', async () => {
      s.plant('10.0.0.9', 'other\r\neth0');
      await s.use((st) => st.reserve(ip('10.0.0.2'), a0, 0));
      expect(await s.use((st) => st.reserve(ip('10.0.0.9'), a0, 0))).toBe(false);
      expect(await s.use((st) => formatIP(st.lastReserved(0)!))).toBe('10.0.0.2');
    });

    it('the last reserved address is kept per range set, and survives the release of that address', async () => {
      expect(await s.use((st) => st.lastReserved(0))).toBeUndefined();
      await s.use((st) => st.reserve(ip('10.0.0.2'), a0, 0));
      await s.use((st) => st.reserve(ip('fd00::5'), a0, 1));
      await s.use((st) => st.reserve(ip('10.0.0.3'), b0, 0));
      await s.use((st) => st.release(ip('10.0.0.3')));
      expect(await s.use((st) => [st.lastReserved(0), st.lastReserved(1), st.lastReserved(2)].map((x) => x && formatIP(x)))).toEqual([
        '10.0.0.3',
        'fd00::5',
        undefined,
      ]);
    });

    it('release frees the address for anyone; releasing a free address is no error', async () => {
      await s.use((st) => st.reserve(ip('10.0.0.2'), a0, 0));
      await s.use((st) => st.release(ip('10.0.0.2')));
      await s.use((st) => st.release(ip('10.0.0.7')));
      expect(await s.use((st) => st.isLeased(ip('10.0.0.2')))).toBe(false);
      expect(await s.use((st) => st.leasesOf(a0))).toEqual([]);
      expect(await s.use((st) => st.reserve(ip('10.0.0.2'), b0, 0))).toBe(true);
    });

    it('leasesOf matches (container ID, ifname) exactly, plus legacy leases of the container; an empty lease is nobody’s', async () => {
      s.plant('10.0.0.2', 'a\r\neth0');
      s.plant('10.0.0.3', 'a\r\nnet1');
      s.plant('10.0.0.4', 'b'); // legacy: container ID only
      s.plant('10.0.0.5', ''); // a crashed writer of an older plugin
      s.plant('10.0.0.6', 'a\n'); // legacy, with a line break
      expect(await s.use((st) => texts(st.leasesOf(a0)))).toEqual(['10.0.0.2', '10.0.0.6']);
      expect(await s.use((st) => texts(st.leasesOf(a1)))).toEqual(['10.0.0.3', '10.0.0.6']);
      expect(await s.use((st) => texts(st.leasesOf(b0)))).toEqual(['10.0.0.4']);
      expect(await s.use((st) => texts(st.leasesOf({ containerID: 'b', ifname: 'eth7' })))).toEqual(['10.0.0.4']);
      expect(await s.use((st) => st.isLeased(ip('10.0.0.5')))).toBe(true);
    });

    it('an owner recorded by reserve reads back as (container ID, ifname), the container ID trimmed', async () => {
      await s.use((st) => st.reserve(ip('10.0.0.2'), { containerID: ' a ', ifname: 'eth0' }, 0));
      expect(await s.use((st) => st.leases().map((l) => l.owner))).toEqual([{ containerID: 'a', ifname: 'eth0' }]);
      expect(await s.use((st) => texts(st.leasesOf(a0)))).toEqual(['10.0.0.2']);
    });

    it('the allocator hands out the same addresses over it', async () => {
      const cfg = await parseHostLocalConfig(
        {
          cniVersion: '1.0.0',
          name: 'net',
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.0.0.0/29' }], [{ subnet: 'fd00::/125' }]] },
        },
        new Map(),
        '1.0.0',
      );
      s.plant('10.0.0.3', 'x\r\neth0');
      const got: string[][] = [];
      for (const n of [1, 2, 3])
        got.push(await s.use((st) => allocateAll(cfg, st, { containerID: `c${n}`, ifname: 'eth0' }).map((x) => formatIP(x.ip))));
      await s.use((st) => st.releaseByOwner({ containerID: 'c1', ifname: 'eth0' }));
      got.push(await s.use((st) => allocateAll(cfg, st, { containerID: 'c4', ifname: 'eth0' }).map((x) => formatIP(x.ip))));
      expect(got).toEqual([
        ['10.0.0.2', 'fd00::2'],
        ['10.0.0.4', 'fd00::3'],
        ['10.0.0.5', 'fd00::4'],
        ['10.0.0.6', 'fd00::5'],
      ]);
    });
  });

  describe('LeaseAdmin (DEL, GC, CHECK, STATUS)', () => {
    beforeEach(() => {
      s.plant('10.0.0.2', 'a\r\neth0');
      s.plant('10.0.0.3', 'a\r\nnet1');
      s.plant('10.0.0.4', 'b'); // legacy
      s.plant('10.0.0.5', ''); // no owner
    });

    it('leases lists every lease with its owner; leasedAddresses every address', async () => {
      const leases = await s.use((st) => st.leases());
      expect(leases.map((l) => [l.name, formatIP(l.ip), l.owner]).sort()).toEqual([
        ['10.0.0.2', '10.0.0.2', { containerID: 'a', ifname: 'eth0' }],
        ['10.0.0.3', '10.0.0.3', { containerID: 'a', ifname: 'net1' }],
        ['10.0.0.4', '10.0.0.4', { containerID: 'b' }],
        ['10.0.0.5', '10.0.0.5', undefined],
      ]);
      expect(await s.use((st) => texts(st.leasedAddresses()))).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
    });

    it('releaseByOwner takes exact matches, falling back to legacy ones only when there are none', async () => {
      expect(await s.use((st) => st.releaseByOwner(a1))).toEqual(['10.0.0.3']);
      expect(await s.use((st) => st.releaseByOwner({ containerID: 'b', ifname: 'eth9' }))).toEqual(['10.0.0.4']);
      expect(await s.use((st) => st.releaseByOwner({ containerID: 'zz', ifname: 'eth0' }))).toEqual([]);
      expect(await s.use((st) => texts(st.leasedAddresses()))).toEqual(['10.0.0.2', '10.0.0.5']);
    });

    it('releaseByOwner leaves a legacy lease alone while the container holds an exact one', async () => {
      s.plant('10.0.0.6', 'a');
      expect(await s.use((st) => st.releaseByOwner(a0))).toEqual(['10.0.0.2']);
      expect(await s.use((st) => texts(st.leasedAddresses()))).toEqual(['10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    });

    it('collectGarbage keeps valid owners (legacy: any ifname of a valid container), drops the rest and ownerless leases', async () => {
      const freed = await s.use((st) => st.collectGarbage([a0, { containerID: 'b', ifname: 'eth1' }]));
      expect(freed.map((l) => l.name).sort()).toEqual(['10.0.0.3', '10.0.0.5']);
      expect(await s.use((st) => texts(st.leasedAddresses()))).toEqual(['10.0.0.2', '10.0.0.4']);
    });

    it('collectGarbage with no valid attachment releases everything', async () => {
      expect((await s.use((st) => st.collectGarbage([]))).length).toBe(4);
      expect(await s.use((st) => st.leasedAddresses())).toEqual([]);
    });
  });
});
