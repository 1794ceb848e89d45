// The pure allocator against the in-memory LeaseStore (test/helpers/memory-store.ts): round-robin order, wrap-around, gateway
// skipping, requested addresses, duplicates, exhaustion, multi-set rollback, IPv6.
import { describe, expect, it } from 'vitest';
import { allocateAll, candidates, capacityOf, freeCount, toIPConfig } from '../../ipam/allocator.ts';
import { type HostLocalConfig, parseHostLocalConfig } from '../../ipam/config.ts';
import type { LeaseStore, Owner } from '../../ipam/lease-store.ts';
import { ErrorCode } from '../../lib/cni/errors.ts';
import { formatIP, parseIP } from '../../lib/net/address.ts';
import { errorOf } from '../helpers/cni-error.ts';
import { MemoryStore } from '../helpers/memory-store.ts';

const cfgOf = (ipam: object, extra: object = {}, args = new Map<string, string>(), version = '1.0.0'): Promise<HostLocalConfig> =>
  parseHostLocalConfig({ cniVersion: version, name: 'net', ipam: { type: 'host-local', ...ipam }, ...extra }, args, version);

const owner = (n: number | string, ifname = 'eth0'): Owner => ({ containerID: `c${n}`, ifname });

/** Allocate for owners c1..cN and return the addresses (without prefix). */
function allocMany(cfg: HostLocalConfig, store: LeaseStore, n: number, from = 1): string[][] {
  const out: string[][] = [];
  for (let i = from; i < from + n; i++) out.push(allocateAll(cfg, store, owner(i)).map((a) => formatIP(a.ip)));
  return out;
}

describe('candidates: the reference round-robin order', () => {
  const order = async (ipam: object, last?: string) =>
    [...candidates((await cfgOf(ipam)).rangeSets[0]!, last ? parseIP(last)! : undefined)].map((c) => formatIP(c.ip));

  it.each([
    [
      'fresh /29 starts after the gateway',
      { subnet: '10.0.0.0/29' },
      undefined,
      ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'],
    ],
    [
      'after the last reserved, wrapping to the start',
      { subnet: '10.0.0.0/29' },
      '10.0.0.4',
      ['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4'],
    ],
    [
      'last reserved at the range end wraps at once',
      { subnet: '10.0.0.0/29' },
      '10.0.0.6',
      ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'],
    ],
    [
      'last reserved outside the set is ignored',
      { subnet: '10.0.0.0/29' },
      '10.9.9.9',
      ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'],
    ],
    [
      'a gateway in the middle is skipped',
      { subnet: '10.0.0.0/29', gateway: '10.0.0.4' },
      undefined,
      ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.5', '10.0.0.6'],
    ],
    [
      'explicit start and end',
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.12' },
      undefined,
      ['10.0.0.10', '10.0.0.11', '10.0.0.12'],
    ],
    [
      'explicit range covering network and broadcast skips them',
      { subnet: '10.0.0.0/30', rangeStart: '10.0.0.0', rangeEnd: '10.0.0.3' },
      undefined,
      ['10.0.0.2'],
    ],
    ['IPv6: the all-ones address is allocatable', { subnet: 'fd00::/126' }, undefined, ['fd00::2', 'fd00::3']],
    [
      'IPv6 wrap after the last address',
      { subnet: 'fd00::/125' },
      'fd00::7',
      ['fd00::2', 'fd00::3', 'fd00::4', 'fd00::5', 'fd00::6', 'fd00::7'],
    ],
  ])('%s', async (_what, ipam, last, expected) => {
    expect(await order(ipam, last)).toEqual(expected);
  });

  it('walks several ranges of a set in order and wraps from the last to the first', async () => {
    const ranges = [[{ subnet: '10.0.0.0/29', rangeStart: '10.0.0.5' }, { subnet: '10.0.1.0/30' }]];
    expect(await order({ ranges })).toEqual(['10.0.0.5', '10.0.0.6', '10.0.1.2']);
    expect(await order({ ranges }, '10.0.0.6')).toEqual(['10.0.1.2', '10.0.0.5', '10.0.0.6']);
    expect(await order({ ranges }, '10.0.1.2')).toEqual(['10.0.0.5', '10.0.0.6', '10.0.1.2']);
  });

  it('a range whose only address is the gateway yields nothing and terminates', async () => {
    expect(await order({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' })).toEqual([]);
  });
});

describe('allocateAll', () => {
  it('hands out addresses round-robin and never reuses a released one before a full lap', async () => {
    const cfg = await cfgOf({ subnet: '10.0.0.0/29' });
    const store = new MemoryStore();
    expect(allocMany(cfg, store, 3)).toEqual([['10.0.0.2'], ['10.0.0.3'], ['10.0.0.4']]);
    store.release(parseIP('10.0.0.2')!);
    expect(allocMany(cfg, store, 3, 4)).toEqual([['10.0.0.5'], ['10.0.0.6'], ['10.0.0.2']]);
    expect(store.last.get(0)).toBe('10.0.0.2');
  });

  it('result entries carry the subnet prefix and the gateway', async () => {
    const cfg = await cfgOf({ ranges: [[{ subnet: '10.0.0.0/24', gateway: '10.0.0.254' }], [{ subnet: 'fd00:1::/64' }]] });
    const got = allocateAll(cfg, new MemoryStore(), owner(1)).map(toIPConfig);
    expect(got).toEqual([
      { address: '10.0.0.1/24', gateway: '10.0.0.254' },
      { address: 'fd00:1::2/64', gateway: 'fd00:1::1' },
    ]);
  });

  it('exhaustion is code 100 and the message lists the ranges', async () => {
    const cfg = await cfgOf({ ranges: [[{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30' }]] });
    const store = new MemoryStore();
    expect(allocMany(cfg, store, 2)).toEqual([['10.0.0.2'], ['10.0.1.2']]);
    const err = errorOf(() => allocateAll(cfg, store, owner(3)));
    expect(err.code).toBe(ErrorCode.AddressExhausted);
    expect(err.message).toContain('no IP addresses available in range set: 10.0.0.1-10.0.0.2,10.0.1.1-10.0.1.2');
  });

  it('skips an address another writer took between the scan and the reservation', async () => {
    const cfg = await cfgOf({ subnet: '10.0.0.0/29' });
    const store = new MemoryStore();
    store.hidden.add('10.0.0.2');
    expect(allocMany(cfg, store, 1)).toEqual([['10.0.0.3']]);
  });

  it('one address per range set; a failing set releases what earlier sets took', async () => {
    const cfg = await cfgOf({ ranges: [[{ subnet: '10.0.0.0/29' }], [{ subnet: 'fd00::/126' }]] });
    const store = new MemoryStore();
    expect(allocMany(cfg, store, 2)).toEqual([
      ['10.0.0.2', 'fd00::2'],
      ['10.0.0.3', 'fd00::3'],
    ]);
    const err = errorOf(() => allocateAll(cfg, store, owner(3)));
    expect(err.code).toBe(ErrorCode.AddressExhausted);
    expect(err.message).toMatch(/^failed to allocate for range 1: /);
    expect([...store.leaseContents.keys()].sort()).toEqual(['10.0.0.2', '10.0.0.3', 'fd00::2', 'fd00::3']);
  });

  it('a second ADD of the same (container, ifname) is refused (102); another ifname is fine', async () => {
    const cfg = await cfgOf({ subnet: '10.0.0.0/29' });
    const store = new MemoryStore();
    allocateAll(cfg, store, owner(1));
    const err = errorOf(() => allocateAll(cfg, store, owner(1)));
    expect(err.code).toBe(ErrorCode.DuplicateAllocation);
    expect(err.message).toContain('10.0.0.2 has been allocated to c1');
    expect(allocateAll(cfg, store, owner(1, 'net1')).map((a) => formatIP(a.ip))).toEqual(['10.0.0.3']);
    expect(store.leaseContents.size).toBe(2);
  });

  it('a legacy lease (container ID only) counts as held by that container', async () => {
    const cfg = await cfgOf({ subnet: '10.0.0.0/29' });
    const store = new MemoryStore();
    store.leaseContents.set('10.0.0.5', 'c1');
    expect(errorOf(() => allocateAll(cfg, store, owner(1))).code).toBe(ErrorCode.DuplicateAllocation);
  });

  describe('requested addresses', () => {
    const withIP = async (ip: string) => cfgOf({ subnet: '10.0.0.0/29' }, {}, new Map([['IP', ip]]));

    it('are honoured and become the last reserved address', async () => {
      const store = new MemoryStore();
      expect(allocateAll(await withIP('10.0.0.5'), store, owner(1)).map((a) => formatIP(a.ip))).toEqual(['10.0.0.5']);
      expect(store.last.get(0)).toBe('10.0.0.5');
      expect(allocMany(await cfgOf({ subnet: '10.0.0.0/29' }), store, 1, 2)).toEqual([['10.0.0.6']]);
    });

    it.each([
      ['taken', '10.0.0.2', /requested IP address 10\.0\.0\.2 \(CNI_ARGS IP\) is not available in range set 10\.0\.0\.1-10\.0\.0\.6/],
      ['the gateway', '10.0.0.1', /requested ip 10\.0\.0\.1 \(CNI_ARGS IP\) is subnet's gateway/],
    ])('are refused with 101 when %s', async (_what, ip, msg) => {
      const store = new MemoryStore();
      store.leaseContents.set('10.0.0.2', 'other\r\neth0');
      const cfg = await withIP(ip);
      const err = errorOf(() => allocateAll(cfg, store, owner(1)));
      expect(err.code).toBe(ErrorCode.AddressUnavailable);
      expect(err.message).toMatch(msg);
      expect(store.leaseContents.size).toBe(1);
    });

    it('an explicit range covering the network address still refuses it', async () => {
      const cfg = await cfgOf({ subnet: '10.0.0.0/29', rangeStart: '10.0.0.0' }, {}, new Map([['IP', '10.0.0.0']]));
      expect(errorOf(() => allocateAll(cfg, new MemoryStore(), owner(1))).code).toBe(ErrorCode.AddressUnavailable);
    });

    it('go to the set that contains them; other sets allocate normally', async () => {
      const cfg = await cfgOf(
        { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]] },
        { runtimeConfig: { ips: ['fd00::99/64'] } },
      );
      expect(allocateAll(cfg, new MemoryStore(), owner(1)).map((a) => formatIP(a.ip))).toEqual(['10.0.0.2', 'fd00::99']);
    });
  });
});

describe('capacity and free count (STATUS)', () => {
  it.each([
    [{ subnet: '10.0.0.0/29' }, 5n],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.0', rangeEnd: '10.0.0.255' }, 253n],
    [{ subnet: '10.0.0.0/24', gateway: '10.0.0.254', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.19' }, 10n],
    [{ subnet: 'fd00::/126' }, 2n],
    [{ subnet: 'fd00::/64' }, (1n << 64n) - 2n],
  ])('%j holds %s addresses', async (ipam, n) => {
    expect(capacityOf((await cfgOf(ipam)).rangeSets[0]!)).toBe(n);
  });

  it('free = capacity minus leases inside the set', async () => {
    const set = (await cfgOf({ subnet: '10.0.0.0/29' })).rangeSets[0]!;
    const leased = ['10.0.0.2', '10.0.0.3', '10.9.0.1', 'fd00::1'].map((s) => parseIP(s)!);
    expect(freeCount(set, leased)).toBe(3n);
  });
});
