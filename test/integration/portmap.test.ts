// portmap against the real kernel, run as a runtime runs it (chained after our bridge, inside a
// throwaway node namespace): traffic from another host (a namespace linked to the node), from the
// node itself (its own address and 127.0.0.1), from a pod to its own and to another pod's host
// port, hostIP mappings, UDP conntrack, IPv6, both backends; CHECK, DEL without netns or
// prevResult, GC; and differentially against Debian's reference portmap (iptables).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dnatChainName } from '../../lib/firewall/portmap-iptables.ts';
import { nodeWithUplink, UPLINK } from '../helpers/examples.ts';
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
import { type Attachment, addNetworkList, type ConfList, checkNetworkList, delNetworkList, type Runtime } from '../helpers/libcni.ts';
import { ask, ipv6Settled, REMOTE, remoteHost, Servers } from '../helpers/traffic.ts';

const canRun = isRoot && haveBuild;
const NET = 'pmnet';

/** Our bridge (gateway, hairpin, dual stack) chained with our portmap. */
function chainConfig(dataDir: string, portmap: Record<string, unknown> = {}): ConfList {
  return {
    cniVersion: '1.0.0',
    name: NET,
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir,
          ranges: [[{ subnet: '10.98.0.0/24' }], [{ subnet: 'fd00:98::/64' }]],
          routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, ...portmap },
    ],
  };
}

interface Pod {
  ns: Netns;
  att: Attachment;
  result: any;
}

const natRules = (node: Netns, v6 = false): string =>
  node
    .exec(v6 ? 'ip6tables-save' : 'iptables-save', ['-t', 'nat'])
    .split('\n')
    .filter((l) => l.startsWith('-A ') || l.startsWith(':CNI-'))
    .join('\n');

/** A traffic world: a node with an uplink, a remote host, a bridge network with portmap. */
async function trafficWorld(where: World, portmap: Record<string, unknown> = {}) {
  const node = nodeWithUplink(where);
  const remote = remoteHost(where, node);
  const rt: Runtime = { node, path: [PLUGIN_DIR] };
  const list = chainConfig(where.tmpdir('cnits-pm-'), portmap);
  const attach = async (portMappings: unknown[]): Promise<Pod> => {
    const ns = where.pod();
    const att: Attachment = { containerID: containerId(), netns: ns.path, ifname: 'eth0', capabilityArgs: { portMappings } };
    return { ns, att, result: await addNetworkList(rt, list, att) };
  };
  return { node, remote, rt, list, attach };
}

describe.skipIf(!canRun)('portmap with real traffic (iptables backend)', () => {
  const world = new World();
  const servers = new Servers();
  let w: Awaited<ReturnType<typeof trafficWorld>>;
  let a: Pod;
  let b: Pod;

  beforeAll(async () => {
    w = await trafficWorld(world);
    a = await w.attach([
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp' },
      { hostPort: 9090, containerPort: 80, protocol: 'tcp', hostIP: UPLINK.v4 },
    ]);
    b = await w.attach([{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }]);
    await servers.start(a.ns, 'tcp', 80, 'pod-a');
    await servers.start(a.ns, 'udp', 53, 'pod-a-udp');
    await servers.start(b.ns, 'tcp', 80, 'pod-b');
    await ipv6Settled(w.node, a.ns, b.ns);
  }, 60_000);
  afterAll(() => {
    servers.stopAll();
    world.cleanup();
  });

  it('from another host to node-IP:hostPort: TCP and UDP, IPv4 and IPv6; two pods on two host ports', async () => {
    expect(await ask(w.remote, 'tcp', REMOTE.nodeV4, 8080)).toBe('pod-a');
    expect(await ask(w.remote, 'udp', REMOTE.nodeV4, 5353)).toBe('pod-a-udp');
    expect(await ask(w.remote, 'tcp', REMOTE.nodeV6, 8080)).toBe('pod-a');
    expect(await ask(w.remote, 'udp', REMOTE.nodeV6, 5353)).toBe('pod-a-udp');
    expect(await ask(w.remote, 'tcp', UPLINK.v4, 8081)).toBe('pod-b');
    expect(await ask(w.remote, 'tcp', UPLINK.v6, 8081)).toBe('pod-b');
  });

  it('from the node itself: to its own address and to 127.0.0.1 (route_localnet set on the bridge)', async () => {
    expect(w.node.sysctl('net/ipv4/conf/cni0/route_localnet')).toBe('1');
    expect(w.node.sysctl('net/ipv4/conf/all/route_localnet')).toBe('0');
    expect(await ask(w.node, 'tcp', UPLINK.v4, 8080)).toBe('pod-a');
    expect(await ask(w.node, 'tcp', '127.0.0.1', 8080)).toBe('pod-a');
    expect(await ask(w.node, 'udp', '127.0.0.1', 5353)).toBe('pod-a-udp');
    expect(await ask(w.node, 'tcp', UPLINK.v6, 8081)).toBe('pod-b');
  });

  it("a pod to its own host port (hairpin) and to another pod's host port", async () => {
    expect(await ask(a.ns, 'tcp', UPLINK.v4, 8080)).toBe('pod-a');
    expect(await ask(a.ns, 'tcp', UPLINK.v6, 8080)).toBe('pod-a');
    expect(await ask(b.ns, 'tcp', UPLINK.v4, 8080)).toBe('pod-a');
    expect(await ask(a.ns, 'tcp', REMOTE.nodeV4, 8081)).toBe('pod-b');
  });

  it('a hostIP mapping answers only on that address', async () => {
    expect(await ask(w.remote, 'tcp', UPLINK.v4, 9090)).toBe('pod-a');
    expect(await ask(w.remote, 'tcp', REMOTE.nodeV4, 9090)).toBe('');
    expect(await ask(w.remote, 'tcp', UPLINK.v6, 9090)).toBe(''); // an IPv4 hostIP: no IPv6 rule
  });

  it('CHECK passes in both families; a rule gone missing fails it, naming the rule', async () => {
    await checkNetworkList(w.rt, w.list, a.att, a.result);
    const chain = dnatChainName(NET, a.att.containerID!);
    w.node.exec('ip6tables', [
      '-w',
      '-t',
      'nat',
      '-D',
      chain,
      '-p',
      'tcp',
      '-m',
      'tcp',
      '--dport',
      '8080',
      '-j',
      'DNAT',
      '--to-destination',
      `[${a.result.ips[1].address.split('/')[0]}]:80`,
    ]);
    const r = await runPlugin({
      plugin: 'portmap',
      command: 'CHECK',
      node: w.node,
      containerID: a.att.containerID,
      netns: a.att.netns,
      ifname: 'eth0',
      config: { cniVersion: '1.0.0', name: NET, type: 'portmap', runtimeConfig: a.att.capabilityArgs, prevResult: a.result },
    });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 130 });
    expect(r.json.msg).toContain(`ip6tables rule "-A ${chain} -p tcp -m tcp --dport 8080 -j DNAT`);
    // A repeated ADD puts the attachment right again (its chain is rewritten, not appended to).
    await runOk({
      plugin: 'portmap',
      command: 'ADD',
      node: w.node,
      containerID: a.att.containerID,
      netns: a.att.netns,
      ifname: 'eth0',
      config: { cniVersion: '1.0.0', name: NET, type: 'portmap', runtimeConfig: a.att.capabilityArgs, prevResult: a.result },
    });
    await checkNetworkList(w.rt, w.list, a.att, a.result);
    expect(
      natRules(w.node)
        .split('\n')
        .filter((l) => l.includes(`--dport 8080 -j DNAT`)),
    ).toHaveLength(1);
  });

  it('ADD removes stale UDP conntrack entries of its host ports: a client reusing its flow reaches the new pod', async () => {
    // Datagrams to a host port nobody maps yet leave a conntrack entry with no NAT; without the
    // flush every later datagram of that flow would follow it past the new DNAT rule.
    expect(await ask(w.remote, 'udp', REMOTE.nodeV4, 5454, 40404)).toBe('');
    expect(w.node.exec('conntrack', ['-L', '-p', 'udp', '--orig-port-dst', '5454'])).toContain('sport=40404');
    const c = await w.attach([{ hostPort: 5454, containerPort: 53, protocol: 'udp' }]);
    await servers.start(c.ns, 'udp', 53, 'pod-c');
    expect(w.node.tryExec('conntrack', ['-L', '-p', 'udp', '--orig-port-dst', '5454']).stdout).not.toContain('sport=40404');
    expect(await ask(w.remote, 'udp', REMOTE.nodeV4, 5454, 40404)).toBe('pod-c');
  });

  it('DEL with the netns gone and without prevResult removes every rule; a second DEL succeeds', async () => {
    const chain = dnatChainName(NET, b.att.containerID!);
    expect(natRules(w.node)).toContain(chain);
    world.removeNetns(b.ns);
    const del = { plugin: 'portmap', command: 'DEL', node: w.node, containerID: b.att.containerID, ifname: 'eth0', netns: b.att.netns };
    const config = { cniVersion: '1.0.0', name: NET, type: 'portmap' };
    await runOk({ ...del, config });
    for (const v6 of [false, true]) expect(natRules(w.node, v6)).not.toContain(chain);
    expect(w.node.exec('iptables-save', ['-t', 'nat'])).not.toContain(b.att.containerID);
    await runOk({ ...del, config, netns: '' });
    expect(await ask(w.remote, 'tcp', REMOTE.nodeV4, 8081)).toBe('');
    // The other pod is untouched.
    expect(await ask(w.remote, 'tcp', REMOTE.nodeV4, 8080)).toBe('pod-a');
  });
});

describe.skipIf(!canRun)('portmap with real traffic (nftables backend)', () => {
  const world = new World();
  const servers = new Servers();
  afterAll(() => {
    servers.stopAll();
    world.cleanup();
  });

  it('reference tables; remote, node, localhost and pod-to-pod traffic; CHECK; DEL by container ID', async () => {
    const w = await trafficWorld(world, { backend: 'nftables' });
    const a = await w.attach([
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp' },
      { hostPort: 9090, containerPort: 80, protocol: 'tcp', hostIP: UPLINK.v4 },
    ]);
    const b = await w.attach([{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }]);
    await servers.start(a.ns, 'tcp', 80, 'pod-a');
    await servers.start(a.ns, 'udp', 53, 'pod-a-udp');
    await servers.start(b.ns, 'tcp', 80, 'pod-b');
    await ipv6Settled(w.node, a.ns, b.ns);

    const v4 = w.node.exec('nft', ['list', 'table', 'ip', 'cni_hostport']);
    expect(v4).toContain('comment "CNI portmap plugin"');
    expect(v4).toContain('fib daddr type local jump hostports_all');
    expect(v4).toContain(`tcp dport 8080 dnat to ${a.result.ips[0].address.split('/')[0]}:80 comment "${a.att.containerID}"`);
    expect(w.node.exec('nft', ['list', 'table', 'ip6', 'cni_hostport'])).toContain(`comment "${b.att.containerID}"`);
    expect(w.node.exec('iptables-save', ['-t', 'nat'])).not.toContain('CNI-HOSTPORT');

    expect(await ask(w.remote, 'tcp', REMOTE.nodeV4, 8080)).toBe('pod-a');
    expect(await ask(w.remote, 'udp', REMOTE.nodeV6, 5353)).toBe('pod-a-udp');
    expect(await ask(w.remote, 'tcp', REMOTE.nodeV6, 8081)).toBe('pod-b');
    expect(await ask(w.node, 'tcp', '127.0.0.1', 8080)).toBe('pod-a');
    expect(await ask(a.ns, 'tcp', UPLINK.v4, 8080)).toBe('pod-a'); // hairpin
    expect(await ask(b.ns, 'tcp', UPLINK.v4, 8080)).toBe('pod-a'); // another pod's host port
    expect(await ask(w.remote, 'tcp', UPLINK.v4, 9090)).toBe('pod-a');
    expect(await ask(w.remote, 'tcp', REMOTE.nodeV4, 9090)).toBe('');

    await checkNetworkList(w.rt, w.list, a.att, a.result);
    await delNetworkList(w.rt, w.list, a.att, a.result);
    const left = w.node.exec('nft', ['list', 'ruleset']);
    expect(left).not.toContain(a.att.containerID);
    expect(left).toContain(b.att.containerID);
    expect(await ask(w.remote, 'tcp', REMOTE.nodeV4, 8081)).toBe('pod-b');
    await delNetworkList(w.rt, w.list, b.att, b.result);
    await delNetworkList(w.rt, w.list, b.att, b.result); // again
    expect(w.node.exec('nft', ['list', 'ruleset'])).not.toContain(b.att.containerID);
  }, 60_000);
});

// ---------------------------------------------------------------- without traffic

/** A prevResult as a bridge returns it: the pod's addresses on its sandbox interface. */
const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
  ips: [
    { address: '10.88.0.5/16', interface: 2, gateway: '10.88.0.1' },
    { address: 'fd00:88::5/64', interface: 2, gateway: 'fd00:88::1' },
  ],
};
const MAPPINGS = [
  { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
  { hostPort: 5353, containerPort: 53, protocol: 'udp' },
  { hostPort: 8443, containerPort: 443, protocol: 'tcp', hostIP: '10.88.0.1' },
  { hostPort: 9000, containerPort: 90, protocol: 'tcp', hostIP: '0.0.0.0' },
];
const config = (over: Record<string, unknown> = {}) => ({
  cniVersion: '1.0.0',
  name: 'podman',
  type: 'portmap',
  runtimeConfig: { portMappings: MAPPINGS },
  prevResult: PREV,
  ...over,
});

function pm(node: Netns, command: string, id: string, cfg: object, dir = PLUGIN_DIR) {
  return runPlugin({ plugin: 'portmap', command, node, containerID: id, netns: node.path, ifname: 'eth0', config: cfg, dir });
}
async function pmOk(node: Netns, command: string, id: string, cfg: object, dir = PLUGIN_DIR) {
  const r = await pm(node, command, id, cfg, dir);
  if (r.code !== 0) throw new Error(`portmap ${command} (${dir}) exited ${r.code}: ${r.stdout} ${r.stderr}`);
  return r.json;
}

let scratch: World;
afterEach(() => scratch?.cleanup());

describe.skipIf(!canRun)('portmap without traffic', () => {
  it('passes prevResult through; without mappings it touches nothing at all', async () => {
    scratch = new World();
    const node = scratch.node();
    const before = natRules(node);
    const id = containerId();
    expect(await pmOk(node, 'ADD', id, config({ runtimeConfig: {} }))).toEqual(PREV);
    expect(natRules(node)).toBe(before);
    expect(await pmOk(node, 'ADD', id, config({ cniVersion: '0.3.1', prevResult: { ...PREV, cniVersion: '0.3.1' } }))).toMatchObject({
      cniVersion: '0.3.1',
      ips: [{ version: '4', address: '10.88.0.5/16' }, { version: '6' }],
    });
    await pmOk(node, 'DEL', id, config());
  });

  it('a config it refuses changes nothing', async () => {
    scratch = new World();
    const node = scratch.node();
    const id = containerId();
    await pmOk(node, 'ADD', id, config()); // the shared chains exist
    const before = natRules(node) + natRules(node, true);
    const bad: Array<[Record<string, unknown>, number]> = [
      [{ runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80, protocol: 'tcp' }] } }, 7],
      [{ runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 0, protocol: 'tcp' }] } }, 7],
      [{ runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, protocol: 'icmp' }] } }, 2],
      [{ runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, protocol: 'tcp', hostIP: 'nowhere' }] } }, 7],
      [{ markMasqBit: 40 }, 7],
      [{ markMasqBit: 3, externalSetMarkChain: 'KUBE-MARK-MASQ' }, 7],
      [{ prevResult: undefined }, 7],
    ];
    for (const [over, code] of bad) {
      const r = await pm(node, 'ADD', containerId(), config(over));
      expect(r.code, JSON.stringify(over)).toBe(1);
      expect(r.json, JSON.stringify(over)).toMatchObject({ code });
      expect(natRules(node) + natRules(node, true)).toBe(before);
    }
  });

  it('GC removes the rules of attachments not in cni.dev/valid-attachments, and only those', async () => {
    scratch = new World();
    const node = scratch.node();
    const [keep, stale] = [containerId(), containerId()];
    await pmOk(node, 'ADD', keep, config());
    await pmOk(node, 'ADD', stale, config());
    const gc = (valid?: unknown) =>
      runOk({
        plugin: 'portmap',
        command: 'GC',
        node,
        config: { cniVersion: '1.1.0', name: 'podman', type: 'portmap', ...(valid ? { 'cni.dev/valid-attachments': valid } : {}) },
      });
    await gc(); // no list: nothing is removed
    expect(natRules(node)).toContain(dnatChainName('podman', stale));
    await gc([{ containerID: keep, ifname: 'eth0' }]);
    for (const v6 of [false, true]) {
      expect(natRules(node, v6)).toContain(dnatChainName('podman', keep));
      expect(natRules(node, v6)).not.toContain(dnatChainName('podman', stale));
    }
  });

  it('concurrent first ADDs on a bare node: shared chains made once, every attachment complete', async () => {
    scratch = new World();
    const node = scratch.node();
    const ids = Array.from({ length: 8 }, () => containerId());
    await Promise.all(
      ids.map((id, i) =>
        pmOk(node, 'ADD', id, config({ runtimeConfig: { portMappings: [{ hostPort: 7000 + i, containerPort: 80, protocol: 'tcp' }] } })),
      ),
    );
    const rules = natRules(node).split('\n');
    expect(rules.filter((l) => l === '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT')).toHaveLength(1);
    expect(rules.filter((l) => l.includes('--set-xmark'))).toHaveLength(1);
    for (const id of ids) expect(rules.filter((l) => l.startsWith('-A CNI-HOSTPORT-DNAT') && l.includes(id))).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- against the reference

describe.skipIf(!canRun || !haveReference)('portmap against the reference portmap (iptables)', () => {
  it("our rules are the reference's, byte for byte, in both families and for every option", async () => {
    scratch = new World();
    const variants: Array<Record<string, unknown>> = [
      {},
      { snat: false },
      { markMasqBit: 5 },
      { externalSetMarkChain: 'KUBE-MARK-MASQ' },
      { conditionsV4: ['!', '-d', '10.99.0.1'], conditionsV6: ['!', '-d', 'fd00:99::1'] },
      {
        runtimeConfig: {
          portMappings: Array.from({ length: 17 }, (_, i) => ({ hostPort: 8101 + i, containerPort: 80, protocol: i % 2 ? 'udp' : 'tcp' })),
        },
      },
    ];
    for (const over of variants) {
      const dumps: string[] = [];
      for (const dir of [REFERENCE_DIR, PLUGIN_DIR]) {
        const node = scratch.node();
        if (over.externalSetMarkChain) for (const t of ['iptables', 'ip6tables']) node.exec(t, ['-t', 'nat', '-N', 'KUBE-MARK-MASQ']);
        await pmOk(node, 'ADD', 'c0ffee', config(over), dir);
        dumps.push(`${natRules(node)}\n${natRules(node, true)}`);
      }
      expect(dumps[1], JSON.stringify(over)).toBe(dumps[0]);
    }
  });

  it('our ADD → the reference DEL removes every rule of the attachment', async () => {
    scratch = new World();
    const node = scratch.node();
    await pmOk(node, 'ADD', 'ours', config());
    const shared = natRules(node)
      .split('\n')
      .filter((l) => !l.includes(dnatChainName('podman', 'ours')));
    await pmOk(node, 'DEL', 'ours', config(), REFERENCE_DIR);
    expect(natRules(node).split('\n')).toEqual(shared);
    expect(natRules(node, true)).not.toContain(dnatChainName('podman', 'ours'));
  });

  it('the reference ADD → our CHECK passes and our DEL removes every rule (also without mappings or prevResult)', async () => {
    scratch = new World();
    const node = scratch.node();
    await pmOk(node, 'ADD', 'theirs', config(), REFERENCE_DIR);
    await pmOk(node, 'CHECK', 'theirs', config());
    await pmOk(node, 'DEL', 'theirs', { cniVersion: '1.0.0', name: 'podman', type: 'portmap' });
    for (const v6 of [false, true]) expect(natRules(node, v6)).not.toContain(dnatChainName('podman', 'theirs'));
  });

  it("the reference CHECK of a v4-only attachment fails on either implementation's state (its dual-stack bug); ours passes", async () => {
    scratch = new World();
    const v4only = { ...PREV, ips: [PREV.ips[0]] };
    for (const [maker, checker] of [
      [REFERENCE_DIR, REFERENCE_DIR],
      [PLUGIN_DIR, REFERENCE_DIR],
    ]) {
      const node = scratch.node();
      await pmOk(node, 'ADD', 'v4', config({ prevResult: v4only }), maker);
      const r = await pm(node, 'CHECK', 'v4', config({ prevResult: v4only }), checker);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('could not check ipv6 dnat');
      await pmOk(node, 'CHECK', 'v4', config({ prevResult: v4only }));
    }
  });
});
