// Network namespace paths: is it a namespace at all, and is it our own (the host's) namespace?
import { statSync, statfsSync } from 'node:fs';

const NSFS_MAGIC = 0x6e736673;

export type NetnsState = 'none' | 'missing' | 'not-netns' | 'own' | 'ok';

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
  const own = statSync('/proc/self/ns/net');
  if (own.dev === target.dev && own.ino === target.ino) return 'own';
  return 'ok';
}
