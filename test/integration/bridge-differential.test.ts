// Differential: the same bridge config run by the reference Go plugins (/usr/lib/cni) and by ours,
// each in its own node namespace, must give the same result shape and the same kernel state.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerId, haveBuild, haveReference, isRoot, type Netns, REFERENCE_DIR, runOk, uniqueName, World } from '../helpers/kernel.ts';

let world: World;
beforeEach(() => {
  world = new World();
});
afterEach(() => world.cleanup());

interface Side {
  node: Netns;
  pod: Netns;
  result: any;
}

async function attachWith(dir: string | undefined, extra: Record<string, unknown>, ipam: Record<string, unknown>): Promise<Side> {
  const node = world.node();
  const pod = world.pod();
  const config = {
    cniVersion: '1.0.0', // the reference plugins stop at 1.0.0
    name: 'diff',
    type: 'bridge',
    bridge: 'cnitsbr0',
    isGateway: true,
    ...extra,
    ipam: { type: 'host-local', dataDir: world.tmpdir(), ...ipam },
  };
  const result = await runOk({
    plugin: 'bridge',
    command: 'ADD',
    dir,
    node,
    config,
    containerID: containerId(),
    netns: pod.path,
    ifname: 'eth0',
  });
  return { node, pod, result };
}

/** The parts of the kernel state that must not depend on which implementation made it. */
function kernelState(s: Side) {
  const hostVeth = s.node.link(s.result.interfaces[1].name);
  const routes = (ns: Netns, fam: '-4' | '-6') =>
    ns
      .routes(fam)
      .filter((r) => !String(r.dst).startsWith('fe80'))
      .map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev, scope: r.scope, protocol: r.protocol }));
  const podLink = s.pod.link('eth0');
  return {
    podAddrs: s.pod.addrs('eth0'),
    podRoutes4: routes(s.pod, '-4'),
    podRoutes6: routes(s.pod, '-6'),
    podMtu: podLink.mtu,
    podUp: podLink.flags.includes('UP'),
    arpNotify: s.pod.sysctl('net/ipv4/conf/eth0/arp_notify'),
    acceptDad: s.pod.sysctl('net/ipv6/conf/eth0/accept_dad'),
    bridgeAddrs: s.node.addrs('cnitsbr0').sort(),
    bridgeUp: s.node.link('cnitsbr0').flags.includes('UP'),
    bridgeMtu: s.node.link('cnitsbr0').mtu,
    hostVethMaster: hostVeth.master,
    hostVethUp: hostVeth.flags.includes('UP'),
    hostVethMtu: hostVeth.mtu,
    hairpin: hostVeth.linkinfo.info_slave_data.hairpin,
    isolated: hostVeth.linkinfo.info_slave_data.isolated,
    hostAcceptRa: s.node.sysctl(`net/ipv6/conf/${hostVeth.ifname}/accept_ra`),
    bridgeAcceptRa: s.node.sysctl('net/ipv6/conf/cnitsbr0/accept_ra'),
    nodeRoutes4: routes(s.node, '-4'),
  };
}

/** The result with the random parts (MACs, veth name) replaced by their shape. */
function resultShape(r: any) {
  // Go prints an empty `"dns": {}`; we leave an empty DNS out (both mean "no DNS").
  const { dns, ...rest } = r;
  return {
    ...rest,
    ...(dns && Object.keys(dns).length ? { dns } : {}),
    interfaces: r.interfaces.map((i: any) => ({
      ...i,
      mac: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(i.mac) ? 'MAC' : i.mac,
      name: i.name.replace(/^veth[0-9a-f]{8}$/, 'vethX'),
      sandbox: i.sandbox ? 'NETNS' : undefined,
    })),
  };
}

const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
  ['gateway + default route', {}, { ranges: [[{ subnet: '10.66.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] }],
  ['isDefaultGateway, mtu, hairpin', { isDefaultGateway: true, mtu: 1450, hairpinMode: true }, { subnet: '10.66.1.0/24' }],
  // (portIsolation is left out: Debian's reference v1.1.1 predates it and ignores the key.)
  ['no gateway, IPAM route', { isGateway: false }, { subnet: '10.66.2.0/24', routes: [{ dst: '192.0.2.0/24', gw: '10.66.2.254' }] }],
  ['dual stack', { isDefaultGateway: true }, { ranges: [[{ subnet: '10.66.3.0/24' }], [{ subnet: 'fd66::/64' }]] }],
];

describe.skipIf(!isRoot || !haveBuild || !haveReference)('bridge vs reference bridge', () => {
  it.each(cases)('%s: same result shape and kernel state', async (_label, extra, ipam) => {
    const ref = await attachWith(REFERENCE_DIR, extra, ipam);
    const ours = await attachWith(undefined, extra, ipam);
    expect(resultShape(ours.result)).toEqual(resultShape(ref.result));
    expect(kernelState(ours)).toEqual(kernelState(ref));
  });

  it('a reference DEL removes what our ADD made, and our DEL what the reference made', async () => {
    for (const [adder, deleter] of [
      [undefined, REFERENCE_DIR],
      [REFERENCE_DIR, undefined],
    ] as const) {
      const node = world.node();
      const pod = world.pod();
      const dataDir = world.tmpdir();
      const config = {
        cniVersion: '1.0.0',
        name: uniqueName('n'),
        type: 'bridge',
        bridge: 'cnitsbr0',
        isGateway: true,
        ipam: { type: 'host-local', dataDir, subnet: '10.66.9.0/24' },
      };
      const id = containerId();
      const result = await runOk({
        plugin: 'bridge',
        command: 'ADD',
        dir: adder,
        node,
        config,
        containerID: id,
        netns: pod.path,
        ifname: 'eth0',
      });
      await runOk({
        plugin: 'bridge',
        command: 'DEL',
        dir: deleter,
        node,
        config: { ...config, prevResult: result },
        containerID: id,
        netns: pod.path,
        ifname: 'eth0',
      });
      expect(pod.link('eth0')).toBeUndefined();
      expect(node.link(result.interfaces[1].name)).toBeUndefined();
      expect(
        node
          .exec('ls', [`${dataDir}/${config.name}`])
          .split('\n')
          .filter((f) => /^\d/.test(f)),
      ).toEqual([]);
    }
  });
});
