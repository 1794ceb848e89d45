// Network namespace paths: is it a namespace at all, and is it our own (the host's) namespace?
import { lstatSync, readlinkSync, statfsSync, statSync } from '../platform/fs.ts';

const NSFS_MAGIC = 0x6e736673;

export type NetnsState = 'none' | 'missing' | 'not-netns' | 'own' | 'ok';

/**
 * A /proc/<pid>/ns/<type> link names its namespace type ("mnt:[4026531841]"): nsfs alone does not
 * tell a mount or UTS namespace from a network one, and entering such a path fails only after
 * IPAM and the host side have been touched. (A bind mount of a non-network namespace is not
 * caught here: that needs the NS_GET_NSTYPE ioctl, which Node cannot issue.)
 */
function isOtherNamespaceLink(path: string): boolean {
  try {
    if (!lstatSync(path).isSymbolicLink()) return false;
    const m = /^(\w+):\[\d+\]$/.exec(readlinkSync(path));
    return m !== null && m[1] !== 'net';
  } catch {
    return false;
  }
}

/** Classify CNI_NETNS before anything touches the kernel. */
export function inspectNetns(path: string): NetnsState {
  if (path === '') return 'none';
  let target;
  try {
    target = statSync(path);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'not-netns';
  }
  try {
    const fsType = statfsSync(path).type;
    // Both /var/run/netns/<name> bind mounts and /proc/<pid>/ns/net links resolve to nsfs.
    if (fsType !== NSFS_MAGIC) return 'not-netns';
  } catch {
    return 'not-netns';
  }
  if (target.isDirectory()) return 'not-netns';
  if (isOtherNamespaceLink(path)) return 'not-netns';
  const own = statSync('/proc/self/ns/net');
  if (own.dev === target.dev && own.ino === target.ino) return 'own';
  return 'ok';
}
