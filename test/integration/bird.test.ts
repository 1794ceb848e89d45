// Calico's cross-node path for real: three node namespaces on one switched segment, each running
// ptp's routed mode for its pods (host veths `cali…`, host-local on the node's block) and BIRD
// with the example configuration (examples/bird/, rendered by its node-conf.sh); BIRD announces
// each node's block over a full mesh of internal BGP sessions and installs the peers' blocks.
// No pod route is written by the test: every route to a pod comes from the plugin (on its own
// node) or from BIRD (everywhere else). IPv4 and IPv6 throughout.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIRD, BIRD_EXAMPLES, Bird, Birds, haveBird, nodeConf, nodeConfArgs, waitFor } from '../helpers/bird.ts';
import { containerId, isRoot, type Netns, PLUGIN_DIR, runOk, trySh, uniqueName, World } from '../helpers/kernel.ts';

const havePtp = existsSync(join(PLUGIN_DIR, 'ptp')) && existsSync(join(PLUGIN_DIR, 'host-local'));

let world: World;
let birds: Birds;
beforeEach(() => {
  world = new World();
  birds = new Birds();
});
afterEach(async () => {
  // BIRD first: a process inside a namespace would keep it alive after `ip netns del`.
  await birds.stopAll();
  world.cleanup();
});

// The cluster's addressing, Calico-like: one pool per family, a /26 (IPv6: /122) block per node.
const POOL4 = '10.244.0.0/16';
const POOL6 = 'fd00:10:244::/48';
const inPool = (dst: string) => dst.startsWith('10.244.') || dst.startsWith('fd00:10:244:');
const ROUTER4 = '192.168.26.1';
const ROUTER6 = 'fd00:26::1';
// Test timers, through node-conf.sh's parameters: a silent peer is dropped after 6 s.
const TIMERS = { holdTime: 6, keepaliveTime: 2 };
// Above the sum of a scenario's bounded waits, so a failing wait reports what it saw.
const SCENARIO_TIMEOUT = 180_000;

interface Node {
  label: string;
  ns: Netns;
  /** Its port on the switch (in the switch namespace). */
  port: string;
  address4: string;
  address6: string;
  block4: string;
  block6: string;
  dataDir: string;
  bird: Bird;
}

interface Cluster {
  switch: Netns;
  router: Netns;
  nodes: Node[];
}

/**
 * The network (BGP sessions up when it returns): a "switch" namespace whose bridge joins three nodes' eth0 and the upstream router (its
 * own namespace: the nodes' default gateway, which knows nothing about pods). Node i (1-3):
 * 192.168.26.10<i>/24 and fd00:26::10<i>/64, block 10.244.<i>.64/26 and fd00:10:244:<i>::40/122,
 * a BIRD peering with both other nodes. The BIRDs are started.
 */
async function cluster(): Promise<Cluster> {
  const sw = world.netns('cnitsw');
  sw.ip('link', 'add', 'br0', 'type', 'bridge');
  sw.ip('link', 'set', 'br0', 'up');
  /** A namespace's eth0, plugged into the switch as `port`. */
  const plug = (ns: Netns, port: string, v4: string, v6: string) => {
    ns.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', sw.name);
    sw.ip('link', 'set', port, 'master', 'br0', 'up');
    // No DAD on the segment: a tentative address would hold back the first BGP connection.
    ns.exec('sysctl', ['-qw', 'net.ipv6.conf.eth0.accept_dad=0']);
    ns.ip('addr', 'add', `${v4}/24`, 'dev', 'eth0');
    ns.ip('-6', 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad');
    ns.ip('link', 'set', 'eth0', 'up');
  };
  const router = world.netns('cnitsr');
  plug(router, 'portr', ROUTER4, ROUTER6);
  router.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  const dir = world.tmpdir('cnits-bird-');
  const labels = ['a', 'b', 'c'];
  const address4 = (i: number) => `192.168.26.${101 + i}`;
  const address6 = (i: number) => `fd00:26::${101 + i}`;
  const nodes = labels.map((label, i): Node => {
    const ns = world.node();
    const port = `port${label}`;
    plug(ns, port, address4(i), address6(i));
    // The uplink's default routes: a real node has them, and proxy ARP needs them.
    ns.ip('route', 'add', 'default', 'via', ROUTER4);
    ns.ip('-6', 'route', 'add', 'default', 'via', ROUTER6);
    const others = labels.map((_, j) => j).filter((j) => j !== i);
    const values = {
      address4: address4(i),
      pool4: POOL4,
      block4: `10.244.${i + 1}.64/26`,
      address6: address6(i),
      pool6: POOL6,
      block6: `fd00:10:244:${i + 1}::40/122`,
      peers4: others.map(address4),
      peers6: others.map(address6),
      ...TIMERS,
    };
    const bird = birds.add(new Bird(ns, dir, label, values));
    return { label, ns, port, ...values, dataDir: world.tmpdir(), bird };
  });
  for (const n of nodes) await n.bird.start();
  const c = { switch: sw, router, nodes };
  await allEstablished(c);
  return c;
}

const allEstablished = (c: Cluster) =>
  waitFor(
    'every BGP session Established',
    30_000,
    () => c.nodes.every((n) => n.bird.allEstablished()),
    () => c.nodes.map((n) => `${n.label}: ${n.bird.birdc('show', 'protocols')}`).join('\n'),
  );

// ---- pods ----

interface Pod {
  node: Node;
  ns: Netns;
  id: string;
  args: string;
  result: any;
  v4: string;
  v6: string;
  hostVeth: string;
}

const ptpConf = (n: Node) => ({
  cniVersion: '1.1.0',
  name: 'k8s-pod-network',
  type: 'ptp',
  proxyArp: true,
  hostVethPrefix: 'cali',
  ipam: {
    type: 'host-local',
    dataDir: n.dataDir,
    ranges: [[{ subnet: n.block4 }], [{ subnet: n.block6 }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
  },
});

async function addPod(node: Node): Promise<Pod> {
  const ns = world.pod();
  const id = containerId();
  const args = `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${uniqueName('pod')}`;
  const result = await runOk({
    plugin: 'ptp',
    command: 'ADD',
    node: node.ns,
    config: ptpConf(node),
    containerID: id,
    netns: ns.path,
    ifname: 'eth0',
    args,
  });
  const [v4, v6] = result.ips.map((ip: any) => ip.address.split('/')[0]);
  return { node, ns, id, args, result, v4, v6, hostVeth: result.interfaces[0].name };
}

const delPod = (p: Pod) =>
  runOk({
    plugin: 'ptp',
    command: 'DEL',
    node: p.node.ns,
    config: { ...ptpConf(p.node), prevResult: p.result },
    containerID: p.id,
    netns: p.ns.path,
    ifname: 'eth0',
    args: p.args,
  });

/** A pod on each node, and every node's table converged. */
async function podOnEachNode(c: Cluster): Promise<[Pod, Pod, Pod]> {
  const pods: Pod[] = [];
  for (const n of c.nodes) pods.push(await addPod(n));
  await converged(c, pods);
  return pods as [Pod, Pod, Pod];
}

/** Pings (waiting up to `wait` seconds for each reply); the output, also on failure. */
function ping(from: Netns, to: string, { count = 1, wait = 2 } = {}): { ok: boolean; out: string } {
  const r = from.tryExec('ping', [...(to.includes(':') ? ['-6'] : []), '-c', String(count), '-i', '0.2', '-W', String(wait), to]);
  return { ok: r.code === 0, out: r.stdout + r.stderr };
}

// ---- routing tables ----

interface PoolRoute {
  dst: string;
  type: string;
  protocol: string;
  via?: string;
  dev?: string;
  scope?: string;
}

/** A node's routes inside the pod pool (main table), comparable: host routes with their /32 or /128. */
function poolRoutes(ns: Netns, family: 4 | 6): PoolRoute[] {
  return ns
    .ipJson(`-${family}`, 'route', 'show', 'table', 'main')
    .filter((r: any) => inPool(r.dst))
    .map((r: any): PoolRoute => {
      const type = r.type ?? 'unicast';
      const route: PoolRoute = {
        dst: r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`,
        type,
        protocol: r.protocol ?? 'boot',
      };
      if (r.gateway) route.via = r.gateway;
      if (type !== 'blackhole') route.dev = r.dev;
      if (r.scope && family === 4) route.scope = r.scope;
      return route;
    })
    .sort((a: PoolRoute, b: PoolRoute) => a.dst.localeCompare(b.dst));
}

/**
 * The table Calico's nodes have: the own block blackholed by BIRD, each own pod's host route from
 * the plugin (`dev cali… scope link`), every peer's block via the peer, learned by BIRD.
 */
function expectedPoolRoutes(n: Node, c: Cluster, pods: Pod[], family: 4 | 6): PoolRoute[] {
  const own = pods.filter((p) => p.node === n);
  const routes: PoolRoute[] = [
    { dst: family === 4 ? n.block4 : n.block6, type: 'blackhole', protocol: 'bird' },
    ...own.map((p) => ({
      dst: family === 4 ? `${p.v4}/32` : `${p.v6}/128`,
      type: 'unicast',
      protocol: 'boot',
      dev: p.hostVeth,
      ...(family === 4 ? { scope: 'link' } : {}),
    })),
    ...c.nodes
      .filter((peer) => peer !== n)
      .map((peer) => ({
        dst: family === 4 ? peer.block4 : peer.block6,
        type: 'unicast',
        protocol: 'bird',
        via: family === 4 ? peer.address4 : peer.address6,
        dev: 'eth0',
      })),
  ];
  return routes.sort((a, b) => a.dst.localeCompare(b.dst));
}

const routeShape = (c: Cluster) =>
  c.nodes.flatMap((n) => [4, 6].map((f) => ({ node: n.label, family: f, routes: poolRoutes(n.ns, f as 4 | 6) })));
const expectedShape = (c: Cluster, pods: Pod[]) =>
  c.nodes.flatMap((n) => [4, 6].map((f) => ({ node: n.label, family: f, routes: expectedPoolRoutes(n, c, pods, f as 4 | 6) })));

/** Waits until every node's pool routes are exactly Calico's shape for these pods. */
async function converged(c: Cluster, pods: Pod[], ms = 30_000): Promise<void> {
  const want = expectedShape(c, pods);
  await waitFor(
    'every node routing the pod pool as BIRD and the plugin should',
    ms,
    () => isDeepStrictEqual(routeShape(c), want),
    () => `have ${JSON.stringify(routeShape(c))}\nwant ${JSON.stringify(want)}`,
  );
}

const hasRouteTo = (n: Node, block: string, family: 4 | 6) => poolRoutes(n.ns, family).some((r) => r.dst === block);

/** Waits until no other node has a route to `gone`'s blocks. */
const withdrawnByPeers = (c: Cluster, gone: Node, ms: number) =>
  waitFor(
    `node ${gone.label}'s blocks withdrawn from the other nodes`,
    ms,
    () => c.nodes.every((n) => n === gone || (!hasRouteTo(n, gone.block4, 4) && !hasRouteTo(n, gone.block6, 6))),
    () => c.nodes.map((n) => `${n.label}: ${n.bird.running ? n.bird.birdc('show', 'protocols') : 'stopped'}`).join('\n'),
  );
const meshName = (family: 4 | 6, peerAddress: string) => `mesh${family}_${peerAddress.replace(/[.:]/g, '_')}`;

// ---- packet counters (nftables in the namespaces the test made) ----

/** Counts packets to these addresses entering (prerouting) and leaving (postrouting) a namespace. */
function countPackets(ns: Netns, addresses: { v4: string; v6: string }): void {
  ns.exec(
    'nft',
    ['-f', '-'],
    `table inet cnits_count {
  chain pre { type filter hook prerouting priority -300; ip daddr ${addresses.v4} counter comment "in4"; ip6 daddr ${addresses.v6} counter comment "in6"; }
  chain post { type filter hook postrouting priority 300; ip daddr ${addresses.v4} counter comment "out4"; ip6 daddr ${addresses.v6} counter comment "out6"; }
}
`,
  );
}

function counters(ns: Netns): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of JSON.parse(ns.exec('nft', ['-j', 'list', 'table', 'inet', 'cnits_count'])).nftables) {
    const rule = item.rule;
    if (!rule?.comment) continue;
    const counter = rule.expr.find((e: any) => e.counter)?.counter;
    out[rule.comment] = counter?.packets ?? 0;
  }
  return out;
}

describe.skipIf(!isRoot || !havePtp || !haveBird)('ptp routed mode across nodes, routes exchanged by BIRD', () => {
  it(
    'three nodes: pods reach each other through BIRD-learned routes only; Calico-shaped tables; a freed address ends at its blackhole',
    async () => {
      const c = await cluster();
      const [A, B, C] = c.nodes as [Node, Node, Node];
      const a1 = await addPod(A);
      const a2 = await addPod(A);
      const b1 = await addPod(B);
      const c1 = await addPod(C);
      expect(a1.hostVeth).toMatch(/^cali[0-9a-f]{11}$/);
      expect([a1.v4, a2.v4, b1.v4, c1.v4]).toEqual(['10.244.1.66', '10.244.1.67', '10.244.2.66', '10.244.3.66']);
      expect([a1.v6, b1.v6, c1.v6]).toEqual(['fd00:10:244:1::42', 'fd00:10:244:2::42', 'fd00:10:244:3::42']);
      const pods = [a1, a2, b1, c1];
      await converged(c, pods);
      // Nothing else routes the pool: the upstream router knows no pod route at all.
      expect([...poolRoutes(c.router, 4), ...poolRoutes(c.router, 6)]).toEqual([]);

      // Pod to pod across nodes, both families, routed hop by hop: pod → its node → the peer node →
      // pod (TTL 64 - 2), not through the upstream router.
      for (const [from, to] of [
        [a1, b1],
        [a1, c1],
        [b1, c1],
        [c1, a2],
      ] as const) {
        for (const address of [to.v4, to.v6]) {
          const r = ping(from.ns, address);
          expect([from.node.label, address, r.ok, r.out]).toEqual([from.node.label, address, true, expect.stringMatching(/ttl=62/)]);
        }
      }

      // BIRD learned the pods' host routes from the kernel but announces only the block.
      const learned = A.bird.birdc('show', 'route', 'protocol', 'cni_kernel4') + A.bird.birdc('show', 'route', 'protocol', 'cni_kernel6');
      for (const p of [a1, a2]) expect(learned).toContain(`${p.v4}/32`);
      for (const p of [a1, a2]) expect(learned).toContain(`${p.v6}/128`);
      const announced = (family: 4 | 6, peer: Node) =>
        [
          ...A.bird
            .birdc('show', 'route', 'export', meshName(family, family === 4 ? peer.address4 : peer.address6))
            .matchAll(/^(\S+\/\d+)\s/gm),
        ].map((m) => m[1]);
      expect(announced(4, B)).toEqual([A.block4]);
      expect(announced(6, C)).toEqual([A.block6]);

      // A pod's DEL: its host route goes; from another node, its address now ends at A's blackhole:
      // each packet enters A once and never leaves it (no loop back out of the default route),
      // nothing reaches the router, and the sender gets no ICMP error (a blackhole is silent).
      expect(ping(b1.ns, a2.v4).ok).toBe(true);
      await delPod(a2);
      expect(poolRoutes(A.ns, 4).map((r) => r.dst)).not.toContain(`${a2.v4}/32`);
      expect(poolRoutes(A.ns, 6).map((r) => r.dst)).not.toContain(`${a2.v6}/128`);
      await converged(c, [a1, b1, c1]);
      countPackets(A.ns, a2);
      countPackets(c.router, a2);
      for (const [family, address] of [
        [4, a2.v4],
        [6, a2.v6],
      ] as const) {
        const r = ping(b1.ns, address, { count: 3, wait: 1 });
        expect(r.ok).toBe(false);
        expect(r.out).toMatch(/3 packets transmitted, 0 received/);
        expect(r.out).not.toMatch(/exceeded|unreachable/i);
        expect(counters(A.ns)).toMatchObject({ [`in${family}`]: 3, [`out${family}`]: 0 });
        expect(counters(c.router)).toMatchObject({ [`in${family}`]: 0 });
      }
      // The live pod next to it is still reached.
      expect(ping(b1.ns, a1.v4).ok).toBe(true);
      expect(ping(c1.ns, a1.v6).ok).toBe(true);
    },
    SCENARIO_TIMEOUT,
  );

  it(
    "a node's BIRD stopped: its block leaves the peers' tables, its own stay; a pod added meanwhile is reachable once BIRD is back",
    async () => {
      const c = await cluster();
      const B = c.nodes[1]!;
      const pods = await podOnEachNode(c);
      const [a1, b1, c1] = pods;
      expect(ping(a1.ns, b1.v4).ok).toBe(true);

      // A clean stop (SIGTERM, as a service manager does): B tells its peers, which drop its block.
      await B.bird.stop();
      await withdrawnByPeers(c, B, 15_000);
      // B's kernel keeps what BIRD installed (persist): its blackhole and the peers' blocks.
      expect(poolRoutes(B.ns, 4)).toEqual(expectedPoolRoutes(B, c, pods, 4));
      expect(poolRoutes(B.ns, 6)).toEqual(expectedPoolRoutes(B, c, pods, 6));
      expect(ping(a1.ns, b1.v4, { wait: 1 }).ok).toBe(false);
      expect(ping(a1.ns, b1.v6, { wait: 1 }).ok).toBe(false);

      // The plugin does not need BIRD: an ADD on B works, but nobody else can reach the pod yet.
      const b2 = await addPod(B);
      expect(ping(a1.ns, b2.v4, { wait: 1 }).ok).toBe(false);

      await B.bird.start();
      await allEstablished(c);
      await converged(c, [...pods, b2]);
      for (const from of [a1, c1]) {
        for (const address of [b2.v4, b2.v6, b1.v4, b1.v6])
          expect([from.node.label, address, ping(from.ns, address).ok]).toEqual([from.node.label, address, true]);
      }
    },
    SCENARIO_TIMEOUT,
  );

  it(
    'a node cut off the network is dropped by its peers after the hold time, and taken back when it returns',
    async () => {
      const c = await cluster();
      const [A, B, C] = c.nodes as [Node, Node, Node];
      const pods = await podOnEachNode(c);
      const [a1, b1, c1] = pods;

      // B's switch port goes down: no TCP goodbye reaches A and C, only silence.
      c.switch.ip('link', 'set', B.port, 'down');
      await withdrawnByPeers(c, B, 20_000);
      for (const n of [A, C])
        expect(readFileSync(n.bird.log, 'utf8')).toMatch(new RegExp(`${meshName(4, B.address4)}: Error: Hold timer expired`));

      c.switch.ip('link', 'set', B.port, 'up');
      await allEstablished(c);
      await converged(c, pods);
      expect(ping(a1.ns, b1.v4).ok).toBe(true);
      expect(ping(c1.ns, b1.v6).ok).toBe(true);
    },
    SCENARIO_TIMEOUT,
  );
});

// The generator alone: no kernel state, no root needed.
describe.skipIf(!haveBird)('examples/bird/node-conf.sh', () => {
  it("single-stack nodes' configurations are valid BIRD; bad values are refused", () => {
    const dir = world.tmpdir('cnits-bird-');
    const check = (name: string, values: Parameters<typeof nodeConf>[0]) => {
      const file = join(dir, name);
      writeFileSync(file, nodeConf(values));
      return trySh(BIRD, ['-p', '-c', file]);
    };
    const v4 = { address4: '192.168.26.101', pool4: POOL4, block4: '10.244.1.64/26', peers4: ['192.168.26.102'] };
    const v6 = { address6: 'fd00:26::101', pool6: POOL6, block6: 'fd00:10:244:1::40/122', peers6: ['fd00:26::102'], routerId: '10.0.0.1' };
    expect(check('v4.conf', v4)).toMatchObject({ code: 0 });
    expect(check('v6.conf', v6)).toMatchObject({ code: 0 });
    const gen = (args: string[]) => trySh(join(BIRD_EXAMPLES, 'node-conf.sh'), args);
    for (const bad of [
      nodeConfArgs({ ...v4, block4: '10.244.1.64/26"; protocol x' }),
      nodeConfArgs({ ...v4, peers4: ['192.168.26.102; }'] }),
      nodeConfArgs({ address4: '192.168.26.101', pool4: POOL4 }),
      nodeConfArgs({ ...v6, routerId: undefined }),
      nodeConfArgs({ ...v4, log: 'relative.log' }),
    ]) {
      const r = gen(bad);
      expect([bad, r.code, r.stdout]).toEqual([bad, 2, '']);
      expect(r.stderr).toMatch(/^node-conf\.sh: /);
    }
  });
});
