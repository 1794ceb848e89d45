// The host-local IPAM plugin: config → pure allocator over the disk store → abbreviated IPAM
// result. Every command holds the network's flock for its whole store access (ADD allocates all
// range sets in one hold), so it is safe against itself and against the reference host-local
// on a shared data directory.
//
// Error codes: 7 invalid config (names the key), 100 a range set is exhausted (the message lists
// its ranges), 101 a requested address is taken / the gateway / network / broadcast, 102 this
// (container ID, ifname) already holds a lease in the set (the runtime must DEL first, as with
// the reference), 130 CHECK mismatch, 50 STATUS not ready, 5 data directory I/O, 11 lock timeout.
// Deliberate differences from the reference: invalid requested addresses are refused up front
// (7) instead of after burning a round-robin slot; CHECK verifies the prevResult addresses; GC
// and STATUS exist; DEL needs only `name` and `ipam.dataDir`, so a drifted config cannot leak.

import { validAttachmentsOf } from '../lib/cni/attachments.ts';
import type { Plugin, Request } from '../lib/cni/dispatch.ts';
import type { Result } from '../lib/cni/types.ts';
import { warn } from '../lib/platform/output.ts';
import { DiskStore, ownerOf, PendingLeases } from './disk-store.ts';
import { parseStoreLocation } from './store-location.ts';

// ADD, CHECK and STATUS need the ranges (and ip-num): a module of their own, loaded when called.
const leasing = () => import('./leasing.ts');

/**
 * ADD's lease files are written and their flush to disk started first, so the disk works while
 * the address code loads and the config is validated (ipam/disk-store.ts PendingLeases).
 */
async function add(req: Request): Promise<Result> {
  const pending = PendingLeases.start(req);
  try {
    return await (await leasing()).add(req, pending);
  } finally {
    pending?.discard();
  }
}

/** Releases every lease of (container ID, ifname); nothing there (or no directory) is success. */
async function del(req: Request): Promise<void> {
  const loc = parseStoreLocation(req.config);
  await DiskStore.withStore(loc.dataDir, loc.network, { create: false }, (store) => store.releaseByOwner(ownerOf(req)));
}

/**
 * Releases every lease of this network whose (container ID, ifname) is not in
 * `cni.dev/valid-attachments`. Without the key nothing is released: a runtime that sends no list
 * has told us nothing about which attachments are alive. An empty list releases everything.
 */
async function gc(req: Request): Promise<void> {
  const loc = parseStoreLocation(req.config);
  const valid = validAttachmentsOf(req);
  if (valid === undefined) {
    warn(`host-local: GC of network "${loc.network}" without cni.dev/valid-attachments: nothing released\n`);
    return;
  }
  // Only address-named files are leases GC may remove (a stray file is never one).
  const addresses = await import('../lib/net/address.ts');
  const freed = await DiskStore.withStore(loc.dataDir, loc.network, { create: false, addresses }, (store) => store.collectGarbage(valid));
  for (const l of freed ?? []) {
    const who = l.owner ? `${l.owner.containerID}${l.owner.ifname === undefined ? '' : `/${l.owner.ifname}`}` : 'no owner recorded';
    warn(`host-local: GC released ${l.name} of network "${loc.network}" (${who})\n`);
  }
}

export const hostLocal: Plugin = {
  name: 'host-local',
  entersNetns: false,
  add,
  del,
  check: async (req) => (await leasing()).check(req),
  gc,
  status: async (req) => (await leasing()).status(req),
};
