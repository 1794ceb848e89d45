// The host-local allocation algorithm (the reference allocator's order, see README "host-local"), pure: it talks to an abstract
// LeaseStore (lease-store.ts: the disk store in production, an in-memory double in unit tests) and does no I/O of its own.
//
// Per range set: a requested address is taken if it is free and not the gateway; otherwise the
// round-robin iterator walks from the address after `last_reserved_ip.<set>` upwards, wrapping
// from each range's end to the next range's start and from the last range to the first, skipping
// the gateway, for at most one lap. The order is exactly the reference's, so both plugins hand
// out the same addresses for the same history (the differential tests rely on it). One deliberate
// difference: an explicit range covering the network or IPv4 broadcast address skips those too.
import { CniError, ErrorCode } from '../lib/cni/errors.ts';
import type { IPConfig } from '../lib/cni/types.ts';
import { formatIP, type IP, ipEqual, lastOf, networkOf, nextIP, rangeSize } from '../lib/net/address.ts';
import { type RollbackFailure, withRollbackFailures } from '../lib/platform/steps.ts';
import { type HostLocalConfig, type Range, type RangeSet, type RequestedIP, rangeContains, rangeFor, rangeSetToString } from './config.ts';
import type { LeaseStore, Owner } from './lease-store.ts';

export interface Allocation {
  setIndex: number;
  ip: IP;
  range: Range;
}

/** The result entry for an allocation: address with the subnet's prefix, and the range's gateway. */
export const toIPConfig = (a: Allocation): IPConfig => ({
  address: `${formatIP(a.ip)}/${a.range.subnet.prefix}`,
  gateway: formatIP(a.range.gateway),
});

/**
 * Addresses of a range never handed out: its gateway (as in the reference), and — only reachable
 * with an explicit rangeStart/rangeEnd, which the reference would hand out — the subnet's network
 * address and the IPv4 broadcast address.
 */
export function isUnallocatable(r: Range, ip: IP): boolean {
  return ipEqual(ip, r.gateway) || ipEqual(ip, networkOf(r.subnet)) || (ip.family === 4 && ipEqual(ip, lastOf(r.subnet)));
}

/**
 * Every allocatable address of `set` in the reference's round-robin order, starting after
 * `last` when `last` is inside the set (else at the first range's start), one lap at most.
 */
export function* candidates(set: RangeSet, last?: IP): Generator<{ ip: IP; range: Range }> {
  let idx = 0;
  let cur: IP | undefined;
  let start: IP | undefined;
  const lastIdx = last ? set.findIndex((r) => rangeContains(r, last)) : -1;
  if (last && lastIdx >= 0) {
    idx = lastIdx;
    cur = last; // the first step moves past it, so `last` itself comes last in the lap
  }
  for (;;) {
    let r = set[idx]!;
    if (cur === undefined) {
      cur = r.rangeStart;
      start = cur;
    } else {
      if (ipEqual(cur, r.rangeEnd)) {
        idx = (idx + 1) % set.length;
        r = set[idx]!;
        cur = r.rangeStart;
      } else {
        cur = nextIP(cur);
      }
      if (start === undefined) start = cur;
      else if (ipEqual(cur, start)) return;
    }
    if (!isUnallocatable(r, cur)) yield { ip: cur, range: r };
  }
}

function failure(code: number, setIndex: number, msg: string): CniError {
  return new CniError(code, `failed to allocate for range ${setIndex}: ${msg}`);
}

/** Allocate one address from range set `setIndex` (the store's lock is held by the caller). */
export function allocateFromSet(set: RangeSet, setIndex: number, store: LeaseStore, owner: Owner, requested?: RequestedIP): Allocation {
  // One lease per (container, ifname) per set: a second ADD is an error, as in the reference
  // (and the spec); the runtime must DEL first. Checked for requested addresses too.
  const held = store.leasesOf(owner).find((ip) => rangeFor(set, ip) !== undefined);
  if (held) {
    throw failure(
      ErrorCode.DuplicateAllocation,
      setIndex,
      `${formatIP(held)} has been allocated to ${owner.containerID}, duplicate allocation is not allowed`,
    );
  }
  if (requested) {
    const range = rangeFor(set, requested.ip);
    if (!range)
      throw failure(
        ErrorCode.AddressUnavailable,
        setIndex,
        `requested IP ${formatIP(requested.ip)} (${requested.key}) is not in range set ${rangeSetToString(set)}`,
      );
    if (ipEqual(requested.ip, range.gateway)) {
      throw failure(
        ErrorCode.AddressUnavailable,
        setIndex,
        `requested ip ${formatIP(requested.ip)} (${requested.key}) is subnet's gateway`,
      );
    }
    if (isUnallocatable(range, requested.ip)) {
      throw failure(
        ErrorCode.AddressUnavailable,
        setIndex,
        `requested ip ${formatIP(requested.ip)} (${requested.key}) is the network or broadcast address of ${formatIP(range.subnet.ip)}/${range.subnet.prefix}`,
      );
    }
    if (!store.reserve(requested.ip, owner, setIndex)) {
      throw failure(
        ErrorCode.AddressUnavailable,
        setIndex,
        `requested IP address ${formatIP(requested.ip)} (${requested.key}) is not available in range set ${rangeSetToString(set)}`,
      );
    }
    return { setIndex, ip: requested.ip, range };
  }
  for (const c of candidates(set, store.lastReserved(setIndex))) {
    if (store.isLeased(c.ip)) continue;
    if (store.reserve(c.ip, owner, setIndex)) return { setIndex, ip: c.ip, range: c.range };
  }
  throw failure(ErrorCode.AddressExhausted, setIndex, `no IP addresses available in range set: ${rangeSetToString(set)}`);
}

/**
 * One address per range set. If any set fails, the addresses already taken by this call are
 * released before the error propagates, so a failed ADD leaves no lease behind.
 */
export function allocateAll(cfg: Pick<HostLocalConfig, 'rangeSets' | 'requested'>, store: LeaseStore, owner: Owner): Allocation[] {
  const done: Allocation[] = [];
  try {
    cfg.rangeSets.forEach((set, i) => {
      done.push(allocateFromSet(set, i, store, owner, cfg.requested[i]));
    });
    return done;
  } catch (e) {
    // Every lease taken is released even when one release fails; those failures join the error.
    const failures: RollbackFailure[] = [];
    for (const a of done.reverse()) {
      try {
        store.release(a.ip);
      } catch (error) {
        failures.push({ what: `release of ${formatIP(a.ip)}`, error });
      }
    }
    throw withRollbackFailures(e, failures);
  }
}

/** Addresses of `set` that can ever be handed out. */
export function capacityOf(set: RangeSet): bigint {
  let n = 0n;
  for (const r of set) {
    n += rangeSize(r.rangeStart, r.rangeEnd);
    // The unallocatable addresses are distinct (a subnet has >= 4 addresses), count each once.
    const skipped = [r.gateway, networkOf(r.subnet), ...(r.subnet.ip.family === 4 ? [lastOf(r.subnet)] : [])];
    for (const ip of skipped.filter((x, i) => skipped.findIndex((y) => ipEqual(x, y)) === i)) if (rangeContains(r, ip)) n -= 1n;
  }
  return n;
}

/**
 * The indexes of the range sets without a free address. Counting a set's free addresses needs every
 * lease's address, which costs an ip-num parse per lease file (~0.2 M QuickJS instructions each,
 * a second for 5000 leases); a set that can hold more addresses than there are leases of the whole
 * network (`leaseCount`, an upper bound) has a free one whatever they are, so `leased` is asked for
 * (once) only when some set is at most that large.
 */
export function exhaustedSets(sets: readonly RangeSet[], leaseCount: number, leased: () => Iterable<IP>): number[] {
  let addresses: IP[] | undefined;
  const out: number[] = [];
  sets.forEach((set, i) => {
    if (capacityOf(set) > BigInt(leaseCount)) return;
    addresses ??= [...leased()];
    if (freeCount(set, addresses) === 0n) out.push(i);
  });
  return out;
}

/** How many addresses of `set` are still free, given every leased address of the network. */
export function freeCount(set: RangeSet, leased: Iterable<IP>): bigint {
  let used = 0n;
  for (const ip of leased) {
    const r = rangeFor(set, ip);
    if (r && !isUnallocatable(r, ip)) used += 1n;
  }
  const free = capacityOf(set) - used;
  return free < 0n ? 0n : free;
}
