// Fixtures shared by the tests that run the example configs in conflist/ (directly, through
// containerd, in the benchmark's spirit): a node with an uplink, and dataDir redirection.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { leaseDirEntries, type Netns, ROOT, type World } from './kernel.ts';
import type { ConfList } from './libcni.ts';

export const CONFLIST_DIR = join(ROOT, 'conflist');
export const CONFLIST_FILES = readdirSync(CONFLIST_DIR)
  .filter((f) => f.endsWith('.conflist'))
  .sort();
/** Keys only our plugins know: examples using them cannot run on the reference plugins. */
const OURS_ONLY = ['proxyArp', 'hostVethPrefix'];
export const usesOursOnly = (file: string): boolean =>
  OURS_ONLY.some((k) => readFileSync(join(CONFLIST_DIR, file), 'utf8').includes(`"${k}"`));

/** The node's own addresses, on its uplink. */
export const UPLINK = { v4: '192.0.2.1', v6: '2001:db8::1' };

/**
 * A node namespace with an "uplink" holding the node's own addresses and default routes, as a
 * real node has (proxy ARP only answers for destinations routable out of another interface; the
 * kernel here has no dummy links, a bridge without ports stands in).
 */
export function nodeWithUplink(world: World): Netns {
  const node = world.node();
  node.ip('link', 'add', 'up0', 'type', 'bridge');
  node.ip('addr', 'add', `${UPLINK.v4}/24`, 'dev', 'up0');
  node.ip('-6', 'addr', 'add', `${UPLINK.v6}/64`, 'dev', 'up0', 'nodad');
  node.ip('link', 'set', 'up0', 'up');
  node.ip('route', 'add', 'default', 'via', '192.0.2.254', 'dev', 'up0');
  node.ip('-6', 'route', 'add', 'default', 'via', '2001:db8::ff', 'dev', 'up0');
  return node;
}

/** The list with every IPAM dataDir moved into the test's temp dir (never the machine's /var/lib/cni). */
export function withDataDir(list: ConfList, dataDir: string): ConfList {
  return { ...list, plugins: list.plugins.map((p) => (p.ipam ? { ...p, ipam: { ...p.ipam, dataDir } } : p)) };
}

export function subnetsOf(list: ConfList): string[] {
  return list.plugins.flatMap((p) => (p.ipam?.ranges ?? []).flat().map((r: { subnet: string }) => r.subnet));
}

/** Lease files host-local keeps for `network` (everything but the lock and last-reserved markers). */
export function leaseFiles(dataDir: string, network: string): string[] {
  return leaseDirEntries(join(dataDir, network));
}

/** iptables, ip6tables and nftables state of a namespace, as text. */
export function firewallState(node: Netns): string {
  return (
    node.tryExec('iptables-save', []).stdout + node.tryExec('ip6tables-save', []).stdout + node.tryExec('nft', ['list', 'ruleset']).stdout
  );
}
