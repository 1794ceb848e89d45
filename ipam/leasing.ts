// host-local's commands that work on the address ranges: ADD leases an address per range set,
// CHECK verifies the prevResult's leases, STATUS counts free addresses. They need the whole config
// (ipam/config.ts) and the allocator, and with them lib/net/address.ts and ip-num; ipam/host-local.ts
// loads this module for them only, so DEL and GC never read it.

import { prevResultOf } from '../lib/cni/attachments.ts';
import { configError } from '../lib/cni/config.ts';
import type { Request } from '../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../lib/cni/errors.ts';
import type { DNS, Result } from '../lib/cni/types.ts';
import * as addresses from '../lib/net/address.ts';
import { formatIP, parseIPOrCidr } from '../lib/net/address.ts';
import { accessSync, constants, readFileSync, statSync } from '../lib/platform/fs.ts';
import { dirname } from '../lib/platform/path.ts';
import { allocateAll, freeCount, toIPConfig } from './allocator.ts';
import { type HostLocalConfig, parseHostLocalConfig, parseResolvConf, rangeFor, rangeSetToString } from './config.ts';
import { DiskStore, leaseContent, ownerOf, type PendingLeases } from './disk-store.ts';
import { networkDir } from './store-location.ts';

/** STATUS is polled every few seconds: wait only briefly for a lock another command holds. */
const STATUS_LOCK_WAIT_SECONDS = 2;

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

/** `pending`: lease files already written and being flushed (ipam/host-local.ts). */
export async function add(req: Request, pending?: PendingLeases): Promise<Result> {
  const cfg = await parseHostLocalConfig(req.config, req.cniArgs, req.version);
  const dns = readDns(cfg);
  const owner = ownerOf(req);
  // One lease per range set, its content known now: written and synced before the lock (disk-store.ts).
  const prepare = { content: leaseContent(owner), count: cfg.rangeSets.length };
  const allocations = await DiskStore.withStore(cfg.dataDir, cfg.network, { create: true, pending, prepare, addresses }, (store) =>
    allocateAll(cfg, store, owner),
  );
  const result: Result = { cniVersion: '1.1.0', ips: allocations!.map(toIPConfig) };
  if (cfg.routes.length) result.routes = cfg.routes;
  if (dns) result.dns = dns;
  return result;
}

/**
 * The container holds at least one lease, and every prevResult address inside our ranges is
 * leased to exactly this (container ID, ifname) — stricter than the reference, which only looks
 * for "some lease of this container".
 */
export async function check(req: Request): Promise<void> {
  const cfg = await parseHostLocalConfig(req.config, req.cniArgs, req.version, { withRequested: false });
  const owner = ownerOf(req);
  const prev = await prevResultOf(req);
  const mine =
    (await DiskStore.withStore(cfg.dataDir, cfg.network, { create: false, addresses }, (store) => store.leasesOf(owner).map(formatIP))) ??
    [];
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
export async function status(req: Request): Promise<void> {
  const cfg = await parseHostLocalConfig(req.config, req.cniArgs, req.version, { withRequested: false });
  checkWritable(networkDir(cfg.dataDir, cfg.network));
  let leased;
  try {
    leased =
      (await DiskStore.withStore(cfg.dataDir, cfg.network, { create: false, waitSeconds: STATUS_LOCK_WAIT_SECONDS, addresses }, (s) =>
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
