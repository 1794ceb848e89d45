// Where host-local keeps a network's leases: `<dataDir>/<network>/`. DEL and GC need only this
// (not the ranges): a config that stopped validating must never make a DEL fail and leak.
import { configError } from '../lib/cni/config.ts';
import { CniError, ErrorCode } from '../lib/cni/errors.ts';
import { join } from '../lib/platform/path.ts';

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

/** A data directory path must be non-empty; the network name must stay one path component. */
export function checkNetworkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new CniError(ErrorCode.InvalidConfig, `invalid network name ${JSON.stringify(name)}: it must be a single path component`);
  }
}

/**
 * Only what DEL needs to find the leases: the network name and data directory. A config that
 * stopped validating (changed ranges, a stale CNI_ARGS IP) must never make DEL fail and leak.
 */
export function parseStoreLocation(config: Record<string, unknown>): { network: string; dataDir: string } {
  const name = config.name;
  if (typeof name !== 'string') throw new CniError(ErrorCode.InvalidConfig, 'missing network name');
  checkNetworkName(name);
  const ipam = config.ipam;
  if (typeof ipam !== 'object' || ipam === null) throw new CniError(ErrorCode.InvalidConfig, `IPAM config missing 'ipam' key`);
  const dataDir = (ipam as Record<string, unknown>).dataDir;
  if (dataDir !== undefined && dataDir !== null && typeof dataDir !== 'string')
    throw configError('ipam.dataDir', dataDir, 'must be a string');
  return { network: name, dataDir: dataDir || DEFAULT_DATA_DIR };
}

export const networkDir = (dataDir: string, network: string): string => {
  checkNetworkName(network);
  return join(dataDir, network);
};

/**
 * How many range sets a config asks for, counted as written (not validated): the legacy subnet,
 * `ipam.ranges` and the runtime's `ipRanges`. What an ADD writes its lease files for in advance;
 * a wrong count only means a file written later or removed unused.
 */
export function estimatedRangeSets(config: Record<string, unknown>): number {
  const ipam = config.ipam as { subnet?: unknown; ranges?: unknown } | undefined;
  const runtime = config.runtimeConfig as { ipRanges?: unknown } | undefined;
  const lengthOf = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
  const n = (typeof ipam?.subnet === 'string' && ipam.subnet !== '' ? 1 : 0) + lengthOf(ipam?.ranges) + lengthOf(runtime?.ipRanges);
  return Math.max(1, Math.min(n, 8));
}
