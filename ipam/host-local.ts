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

import { prevResultOf, validAttachmentsOf } from '../lib/cni/attachments.ts';
import { configError } from '../lib/cni/config.ts';
import type { Plugin, Request } from '../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../lib/cni/errors.ts';
import type { DNS, Result } from '../lib/cni/types.ts';
import { formatIP, parseIPOrCidr } from '../lib/net/address.ts';
import { accessSync, constants, readFileSync, statSync } from '../lib/platform/fs.ts';
import { warn } from '../lib/platform/output.ts';
import { dirname } from '../lib/platform/path.ts';
import { allocateAll, freeCount, type Owner, toIPConfig } from './allocator.ts';
import { type HostLocalConfig, parseHostLocalConfig, parseResolvConf, parseStoreLocation, rangeFor, rangeSetToString } from './config.ts';
import { DiskStore, leaseContent, networkDir } from './disk-store.ts';

/** STATUS is polled every few seconds: wait only briefly for a lock another command holds. */
const STATUS_LOCK_WAIT_SECONDS = 2;

const ownerOf = (req: Request): Owner => ({ containerID: req.env.containerID, ifname: req.env.ifname });

function readDns(cfg: HostLocalConfig): DNS | undefined {
  if (!cfg.resolvConf) return undefined;
  let content: string;
  try {
    content = readFileSync(cfg.resolvConf, 'utf8');
  } catch (e) {
    throw configError('ipam.resolvConf', cfg.resolvConf, `cannot read: ${(e as Error).message}`);
  }
  return parseResolvConf(content);
}

async function add(req: Request): Promise<Result> {
  const cfg = await parseHostLocalConfig(req.config, req.cniArgs, req.version);
  const dns = readDns(cfg);
  const owner = ownerOf(req);
  // One lease per range set, its content known now: written and synced before the lock (disk-store.ts).
  const prepare = { content: leaseContent(owner), count: cfg.rangeSets.length };
  const allocations = await DiskStore.withStore(cfg.dataDir, cfg.network, { create: true, prepare }, (store) =>
    allocateAll(cfg, store, owner),
  );
  const result: Result = { cniVersion: '1.1.0', ips: allocations!.map(toIPConfig) };
  if (cfg.routes.length) result.routes = cfg.routes;
  if (dns) result.dns = dns;
  return result;
}

/** Releases every lease of (container ID, ifname); nothing there (or no directory) is success. */
async function del(req: Request): Promise<void> {
  const loc = parseStoreLocation(req.config);
  await DiskStore.withStore(loc.dataDir, loc.network, { create: false }, (store) => store.releaseByOwner(ownerOf(req)));
}

/**
 * The container holds at least one lease, and every prevResult address inside our ranges is
 * leased to exactly this (container ID, ifname) — stricter than the reference, which only looks
 * for "some lease of this container".
 */
async function check(req: Request): Promise<void> {
  const cfg = await parseHostLocalConfig(req.config, req.cniArgs, req.version, { withRequested: false });
  const owner = ownerOf(req);
  const prev = await prevResultOf(req);
  const mine =
    (await DiskStore.withStore(cfg.dataDir, cfg.network, { create: false }, (store) => store.leasesOf(owner).map(formatIP))) ?? [];
  if (mine.length === 0) {
    throw new CniError(
      ErrorCode.CheckFailed,
      `host-local: Failed to find address added by container ${owner.containerID} (${owner.ifname})`,
    );
  }
  for (const ipc of prev?.ips ?? []) {
    const ip = parseIPOrCidr(ipc.address)?.ip;
    if (!ip || !cfg.rangeSets.some((s) => rangeFor(s, ip))) continue; // not ours to vouch for
    if (!mine.includes(formatIP(ip))) {
      throw new CniError(
        ErrorCode.CheckFailed,
        `host-local: address ${formatIP(ip)} from prevResult is not leased to container ${owner.containerID} (${owner.ifname})`,
        `its leases in network "${cfg.network}": ${mine.join(', ')}`,
      );
    }
  }
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
  const freed = await DiskStore.withStore(loc.dataDir, loc.network, { create: false }, (store) => store.collectGarbage(valid));
  for (const l of freed ?? []) {
    const who = l.owner ? `${l.owner.containerID}${l.owner.ifname === undefined ? '' : `/${l.owner.ifname}`}` : 'no owner recorded';
    warn(`host-local: GC released ${l.name} of network "${loc.network}" (${who})\n`);
  }
}

const notAvailable = (why: string): CniError => new CniError(ErrorCode.NotAvailable, `host-local: not ready: ${why}`);

/** Can ADD create and write files in `dir`? (The directory itself, or the nearest existing parent.) */
function checkWritable(dir: string): void {
  let probe = dir;
  for (;;) {
    try {
      if (!statSync(probe).isDirectory()) throw notAvailable(`${probe} is not a directory`);
      break;
    } catch (e) {
      if (e instanceof CniError) throw e;
      const parent = dirname(probe);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === probe)
        throw notAvailable(`cannot access ${probe}: ${(e as Error).message}`);
      probe = parent;
    }
  }
  try {
    accessSync(probe, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw notAvailable(`data directory ${probe} is not writable: ${(e as Error).message}`);
  }
}

/** Ready when the data directory is writable, the lock can be taken and every range set has a free address. */
async function status(req: Request): Promise<void> {
  const cfg = await parseHostLocalConfig(req.config, req.cniArgs, req.version, { withRequested: false });
  checkWritable(networkDir(cfg.dataDir, cfg.network));
  let leased;
  try {
    leased =
      (await DiskStore.withStore(cfg.dataDir, cfg.network, { create: false, waitSeconds: STATUS_LOCK_WAIT_SECONDS }, (s) =>
        s.leasedAddresses(),
      )) ?? [];
  } catch (e) {
    if (e instanceof CniError && e.code === ErrorCode.TryAgainLater)
      throw notAvailable(`lock of network "${cfg.network}" is held by another process: ${e.message}`);
    throw e instanceof CniError ? notAvailable(e.message) : e;
  }
  cfg.rangeSets.forEach((set, i) => {
    if (freeCount(set, leased) === 0n) throw notAvailable(`range set ${i} (${rangeSetToString(set)}) has no free address`);
  });
}

export const hostLocal: Plugin = { name: 'host-local', entersNetns: false, add, del, check, gc, status };
