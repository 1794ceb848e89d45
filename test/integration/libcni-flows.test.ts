// The example configs driven the way a CNI 1.1 runtime (libcni ≥ 1.2: containerd 2, CRI-O) drives
// them: the version picked from `cniVersions` (1.1.0), then STATUS, ADD, GC with a valid-attachment
// list, CHECK and DEL. Debian's reference portmap stops at CNI 1.0.0, so the chains run without it
// here (a 1.1 runtime needs a newer portmap).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CONFLIST_DIR,
  CONFLIST_FILES,
  firewallState,
  leaseFiles,
  nodeWithUplink,
  subnetsOf,
  UPLINK,
  withDataDir,
} from '../helpers/examples.ts';
import { containerId, haveBuild, isRoot, PLUGIN_DIR, World } from '../helpers/kernel.ts';
import {
  type Attachment,
  addNetworkList,
  type ConfList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  loadConfList,
  type Runtime,
  selectVersion,
  statusNetworkList,
} from '../helpers/libcni.ts';

let world: World | undefined;
afterEach(() => {
  world?.cleanup();
  world = undefined;
});

describe('libcni version selection', () => {
  it('picks the highest cniVersions entry the runtime speaks, else cniVersion', () => {
    const list = { cniVersion: '1.0.0', cniVersions: ['0.3.1', '1.1.0', '1.0.0'], name: 'n', plugins: [] } as ConfList;
    expect(selectVersion(list).cniVersion).toBe('1.1.0');
    expect(selectVersion(list, ['0.3.1', '1.0.0']).cniVersion).toBe('1.0.0');
    expect(selectVersion({ ...list, cniVersions: ['2.0.0'] }).cniVersion).toBe('1.0.0');
    expect(selectVersion({ cniVersion: '0.4.0', name: 'n', plugins: [] }).cniVersion).toBe('0.4.0');
  });
  for (const file of CONFLIST_FILES) {
    it(`${file} offers 1.1.0 to newer runtimes`, () => {
      expect(selectVersion(loadConfList(join(CONFLIST_DIR, file))).cniVersion).toBe('1.1.0');
    });
  }
});

describe.skipIf(!isRoot || !haveBuild)('example conflists under a CNI 1.1 runtime: STATUS, ADD, GC, CHECK, DEL', () => {
  for (const file of CONFLIST_FILES) {
    it(`${file}: GC releases what is not in the valid list and keeps the rest working`, async () => {
      world = new World();
      const node = nodeWithUplink(world);
      const dataDir = world.tmpdir();
      const full = selectVersion(withDataDir(loadConfList(join(CONFLIST_DIR, file)), dataDir));
      const list: ConfList = { ...full, plugins: full.plugins.filter((p) => p.type !== 'portmap') };
      expect(list.cniVersion).toBe('1.1.0');
      const families = subnetsOf(list).length;
      const rt: Runtime = { node, path: [PLUGIN_DIR] };
      const pods = [world.pod(), world.pod()];
      const atts: Attachment[] = pods.map((pod) => ({ containerID: containerId(), netns: pod.path, ifname: 'eth0' }));

      await statusNetworkList(rt, list);
      const results = [];
      for (const att of atts) results.push(await addNetworkList(rt, list, att));
      expect(results.map((r) => r.cniVersion)).toEqual(['1.1.0', '1.1.0']);
      expect(leaseFiles(dataDir, list.name)).toHaveLength(2 * families);

      const masq = list.plugins.some((p) => p.ipMasq === true);
      if (masq) expect(firewallState(node)).toContain(atts[1]!.containerID); // so its absence below means something

      // The runtime lost pod 1 (its sandbox is gone without a DEL): GC with only pod 0 valid.
      await gcNetworkList(rt, list, [{ containerID: atts[0]!.containerID!, ifname: 'eth0' }]);
      const leased = leaseFiles(dataDir, list.name);
      expect(leased.sort()).toEqual(results[0].ips.map((ip: any) => ip.address.split('/')[0]).sort());
      expect(firewallState(node)).not.toContain(atts[1]!.containerID);

      // Pod 0 is untouched: CHECK passes and it still reaches the node.
      await checkNetworkList(rt, list, atts[0]!, results[0]);
      const v4 = results[0].ips.some((ip: any) => !ip.address.includes(':'));
      expect(pods[0]!.ping(v4 ? UPLINK.v4 : UPLINK.v6, 3)).toBe(true);
      await statusNetworkList(rt, list);

      for (const [i, att] of atts.entries()) await delNetworkList(rt, list, att, results[i]);
      expect(leaseFiles(dataDir, list.name)).toEqual([]);
      expect(node.links().filter((l) => l.linkinfo?.info_kind === 'veth')).toEqual([]);
      const fw = firewallState(node);
      for (const att of atts) expect(fw).not.toContain(att.containerID);
    });
  }
});
