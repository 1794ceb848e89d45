// loopback against the real kernel and differentially against Debian's reference loopback: ADD
// brings lo up with the same addresses, DEL brings it down and succeeds when the namespace is gone
// or not given, CHECK tells up from down. Results: ours in the requested version's shape, the
// reference's in the 1.0.0 shape whatever the version (its quirk); the same interface and addresses.
import { afterEach, describe, expect, it } from 'vitest';
import {
  containerId,
  haveBuild,
  haveReference,
  isRoot,
  type Netns,
  PLUGIN_DIR,
  REFERENCE_DIR,
  runOk,
  runPlugin,
  World,
} from '../helpers/kernel.ts';

let world: World;
afterEach(() => world?.cleanup());

const config = (cniVersion: string, extra: Record<string, unknown> = {}) => ({
  cniVersion,
  name: 'cni-loopback',
  type: 'loopback',
  ...extra,
});

function lo(node: Netns, pod: Netns, command: string, cfg: object, dir = PLUGIN_DIR, netns = pod.path) {
  return runPlugin({ plugin: 'loopback', command, node, containerID: containerId(), netns, ifname: 'eth0', config: cfg, dir });
}

/** A pod namespace whose lo is down, as a new namespace has it. */
function bareNetns(): Netns {
  const pod = world.pod();
  pod.ip('link', 'set', 'lo', 'down');
  return pod;
}

const isUp = (pod: Netns): boolean => (pod.link('lo')?.flags ?? []).includes('UP');

/** Interface and addresses of a result, whatever its shape (ip4/ip6 blocks, or interfaces + ips). */
function essence(r: any): { interfaces: unknown[]; addresses: string[] } {
  const addresses = r.ips ? r.ips.map((ip: any) => ip.address) : [r.ip4?.ip, r.ip6?.ip].filter(Boolean);
  return { interfaces: r.interfaces ?? [], addresses };
}

describe.skipIf(!isRoot || !haveBuild)('loopback', () => {
  it('ADD brings lo up and returns it in the requested version; CHECK; DEL brings it down; CHECK then fails', async () => {
    world = new World();
    const node = world.node();
    for (const v of ['0.2.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const pod = bareNetns();
      expect(isUp(pod)).toBe(false);
      const r = await lo(node, pod, 'ADD', config(v));
      expect(r.code, r.stdout).toBe(0);
      expect(isUp(pod)).toBe(true);
      expect(pod.addrs('lo').sort()).toEqual(['127.0.0.1/8', '::1/128']);
      if (v === '0.2.0') expect(r.json).toEqual({ cniVersion: v, ip4: { ip: '127.0.0.1/8' }, ip6: { ip: '::1/128' } });
      else {
        const version = v === '0.3.1' || v === '0.4.0';
        expect(r.json).toEqual({
          cniVersion: v,
          interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: pod.path }],
          ips: [
            { ...(version ? { version: '4' } : {}), interface: 0, address: '127.0.0.1/8' },
            { ...(version ? { version: '6' } : {}), interface: 0, address: '::1/128' },
          ],
        });
      }
      if (v !== '0.2.0') {
        expect((await lo(node, pod, 'CHECK', config(v === '0.3.1' ? '0.4.0' : v))).code).toBe(0);
        expect((await lo(node, pod, 'DEL', config(v))).code).toBe(0);
        expect(isUp(pod)).toBe(false);
        const check = await lo(node, pod, 'CHECK', config(v === '0.3.1' ? '0.4.0' : v));
        expect(check.json).toMatchObject({ code: 130, msg: 'loopback interface is down' });
      }
    }
  });

  it('passes a prevResult through unchanged (chained)', async () => {
    world = new World();
    const node = world.node();
    const pod = bareNetns();
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: pod.path }],
      ips: [{ interface: 0, address: '10.1.2.3/24' }],
    };
    expect(
      await runOk({
        plugin: 'loopback',
        command: 'ADD',
        node,
        containerID: 'x',
        netns: pod.path,
        ifname: 'eth0',
        config: config('1.0.0', { prevResult }),
      }),
    ).toEqual(prevResult);
    expect(isUp(pod)).toBe(true);
  });

  it('DEL succeeds with the namespace gone, with no namespace, and GC/STATUS have nothing to do', async () => {
    world = new World();
    const node = world.node();
    const pod = bareNetns();
    expect((await lo(node, pod, 'ADD', config('1.1.0'))).code).toBe(0);
    world.removeNetns(pod);
    expect((await lo(node, pod, 'DEL', config('1.1.0'))).code).toBe(0);
    expect((await lo(node, pod, 'DEL', config('1.1.0'), PLUGIN_DIR, '')).code).toBe(0);
    for (const command of ['GC', 'STATUS']) {
      expect((await runPlugin({ plugin: 'loopback', command, node, config: config('1.1.0') })).code).toBe(0);
    }
    // ADD into a namespace that does not exist: "unknown container", nothing done.
    expect((await lo(node, pod, 'ADD', config('1.1.0'))).json).toMatchObject({ code: 3 });
  });

  it("refuses the plugin's own namespace: the node's lo is never brought down", async () => {
    world = new World();
    const node = world.node();
    for (const command of ['ADD', 'DEL', 'CHECK']) {
      const r = await lo(node, node, command, config('1.0.0'));
      expect(r.json, command).toMatchObject({ code: 4 });
    }
    expect(isUp(node)).toBe(true);
  });
});

describe.skipIf(!isRoot || !haveBuild || !haveReference)('loopback against the reference loopback', () => {
  it('same interface and addresses for every version both speak; ours in the version asked for', async () => {
    world = new World();
    const node = world.node();
    for (const v of ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
      const pods = [bareNetns(), bareNetns()];
      const [ours, ref] = await Promise.all([lo(node, pods[0]!, 'ADD', config(v)), lo(node, pods[1]!, 'ADD', config(v), REFERENCE_DIR)]);
      expect(ours.code, ours.stdout).toBe(0);
      expect(ref.code, ref.stdout).toBe(0);
      expect(pods.map(isUp)).toEqual([true, true]);
      expect(pods[0]!.addrs('lo').sort()).toEqual(pods[1]!.addrs('lo').sort());
      expect(ours.json.cniVersion).toBe(v);
      expect(ref.json.cniVersion).toBe(v);
      // The reference prints the 1.0.0 shape under any label; ours is that version's shape.
      expect(ref.json.ips?.[0]?.version).toBeUndefined();
      expect(essence(ours.json).addresses).toEqual(essence(ref.json).addresses);
      if (v >= '0.3.0') {
        expect(essence(ours.json).interfaces).toEqual([{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: pods[0]!.path }]);
        expect(essence(ref.json).interfaces).toEqual([{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: pods[1]!.path }]);
      }
    }
  });

  it('DEL, CHECK and a vanished namespace behave alike', async () => {
    world = new World();
    const node = world.node();
    for (const dir of [PLUGIN_DIR, REFERENCE_DIR]) {
      const pod = bareNetns();
      expect((await lo(node, pod, 'ADD', config('1.0.0'), dir)).code).toBe(0);
      expect((await lo(node, pod, 'CHECK', config('1.0.0'), dir)).code).toBe(0);
      expect((await lo(node, pod, 'DEL', config('1.0.0'), dir)).code).toBe(0);
      expect(isUp(pod)).toBe(false);
      const check = await lo(node, pod, 'CHECK', config('1.0.0'), dir);
      expect(check.code).toBe(1);
      expect(check.stdout).toContain('loopback interface is down');
      world.removeNetns(pod);
      expect((await lo(node, pod, 'DEL', config('1.0.0'), dir)).code, dir).toBe(0);
      expect((await lo(node, pod, 'DEL', config('1.0.0'), dir, '')).code, dir).toBe(0);
    }
  });
});
