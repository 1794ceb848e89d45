// The ptp plugin against the real kernel, in both modes: every run inside a throwaway node
// namespace, pods in further namespaces, host-local with a per-test data dir (ours by default;
// PTP_TEST_REFERENCE_IPAM=1 uses Debian's through a CNI_PATH of symlinks).
import { createHash } from 'node:crypto';
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  containerId,
  haveReference,
  isRoot,
  leaseDirEntries,
  type Netns,
  PLUGIN_DIR,
  REFERENCE_DIR,
  runOk,
  runPlugin,
  sh,
  uniqueName,
  World,
} from '../helpers/kernel.ts';

const havePtp = existsSync(join(PLUGIN_DIR, 'ptp')) && existsSync(join(PLUGIN_DIR, 'host-local'));

let world: World;
beforeEach(() => {
  world = new World();
});
afterEach(() => world.cleanup());

type Mode = 'reference' | 'routed';
const MODES: Mode[] = ['reference', 'routed'];

interface Net {
  node: Netns;
  dataDir: string;
  name: string;
  path: string;
}

function cniPath(): string {
  if (process.env.PTP_TEST_REFERENCE_IPAM !== '1') return PLUGIN_DIR;
  const dir = world.tmpdir('cnits-path-');
  symlinkSync(join(PLUGIN_DIR, 'ptp'), join(dir, 'ptp'));
  symlinkSync(join(REFERENCE_DIR, 'host-local'), join(dir, 'host-local'));
  return dir;
}

/**
 * A node namespace with an "uplink": a portless bridge carrying the node's own addresses and its
 * default routes, as a real node has (proxy ARP only answers for what the node can route elsewhere).
 */
function net(uplink = true): Net {
  const node = world.node();
  if (uplink) {
    node.ip('link', 'add', 'up0', 'type', 'bridge');
    node.ip('link', 'set', 'up0', 'up');
    node.ip('addr', 'add', '192.168.250.1/24', 'dev', 'up0');
    node.ip('-6', 'addr', 'add', 'fd99:250::1/64', 'dev', 'up0', 'nodad');
    node.ip('route', 'add', 'default', 'via', '192.168.250.254', 'dev', 'up0', 'onlink');
    node.ip('-6', 'route', 'add', 'default', 'via', 'fd99:250::fe', 'dev', 'up0', 'onlink');
  }
  return { node, dataDir: world.tmpdir(), name: uniqueName('net'), path: cniPath() };
}

function conf(
  n: Net,
  mode: Mode,
  opts: { v4?: string; v6?: string; extra?: Record<string, unknown>; version?: string } = {},
): Record<string, unknown> {
  const { v4 = '10.78.0.0/24', v6 } = opts;
  const ranges = [...(v4 ? [[{ subnet: v4 }]] : []), ...(v6 ? [[{ subnet: v6 }]] : [])];
  const routes = [...(v4 ? [{ dst: '0.0.0.0/0' }] : []), ...(v6 ? [{ dst: '::/0' }] : [])];
  return {
    cniVersion: opts.version ?? '1.1.0',
    name: n.name,
    type: 'ptp',
    ...(mode === 'routed' ? { proxyArp: true } : {}),
    ipam: { type: 'host-local', dataDir: n.dataDir, ranges, routes },
    ...opts.extra,
  };
}

const leases = (n: Net) => leaseDirEntries(join(n.dataDir, n.name));

interface Attached {
  pod: Netns;
  id: string;
  args: string;
  result: any;
}

async function attach(n: Net, config: Record<string, unknown>, opts: { pod?: Netns; id?: string; args?: string } = {}): Promise<Attached> {
  const pod = opts.pod ?? world.pod();
  const id = opts.id ?? containerId();
  const args = opts.args ?? `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${uniqueName('pod')}`;
  const result = await runOk({
    plugin: 'ptp',
    command: 'ADD',
    node: n.node,
    config,
    containerID: id,
    netns: pod.path,
    ifname: 'eth0',
    args,
    path: n.path,
  });
  return { pod, id, args, result };
}

const call = (n: Net, command: string, config: Record<string, unknown>, a: Attached) =>
  runPlugin({
    plugin: 'ptp',
    command,
    node: n.node,
    config,
    containerID: a.id,
    netns: a.pod.path,
    ifname: 'eth0',
    args: a.args,
    path: n.path,
  });

const callOk = async (n: Net, command: string, config: Record<string, unknown>, a: Attached) => {
  const r = await call(n, command, config, a);
  if (r.code !== 0) throw new Error(`ptp ${command} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.json;
};

const withPrev = (config: Record<string, unknown>, prevResult: unknown) => ({ ...config, prevResult });
const addr = (cidr: string) => cidr.split('/')[0]!;
const hostVethOf = (a: Attached): string => a.result.interfaces[0].name;

describe.skipIf(!isRoot || !havePtp)('ptp', () => {
  it('reference mode, dual stack: the reference kernel state, traffic pod↔pod and pod↔node, CHECK, DEL', async () => {
    const n = net();
    const c = conf(n, 'reference', { v6: 'fd00:78::/64', extra: { mtu: 1400 } });
    const a = await attach(n, c);
    const b = await attach(n, c);

    expect(a.result.interfaces.map((i: any) => i.name)).toEqual([expect.stringMatching(/^veth[0-9a-f]{8}$/), 'eth0']);
    expect(a.result.interfaces[1].sandbox).toBe(a.pod.path);
    expect(a.result.ips).toEqual([
      { address: '10.78.0.2/24', gateway: '10.78.0.1', interface: 1 },
      { address: 'fd00:78::2/64', gateway: 'fd00:78::1', interface: 1 },
    ]);
    const hv = hostVethOf(a);
    expect(n.node.addrs(hv)).toEqual(expect.arrayContaining(['10.78.0.1/32', 'fd00:78::1/128']));
    expect(n.node.routes('-4').find((r) => r.dst === '10.78.0.2')).toMatchObject({ dev: hv, scope: 'host' });
    expect(n.node.routes('-6').find((r) => r.dst === 'fd00:78::2')).toMatchObject({ dev: hv });
    expect(n.node.link(hv).mtu).toBe(1400);
    expect(a.pod.link('eth0').mtu).toBe(1400);
    const podRoutes = a.pod.routes('-4');
    expect(podRoutes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: '10.78.0.1' }),
        expect.objectContaining({ dst: '10.78.0.0/24', gateway: '10.78.0.1', prefsrc: '10.78.0.2' }),
        expect.objectContaining({ dst: '10.78.0.1', scope: 'link', prefsrc: '10.78.0.2' }),
      ]),
    );
    // The connected route is gone: same-subnet traffic goes through the host.
    expect(podRoutes.find((r) => r.dst === '10.78.0.0/24' && !r.gateway)).toBeUndefined();

    expect(a.pod.ping('10.78.0.3')).toBe(true);
    expect(b.pod.ping('10.78.0.2')).toBe(true);
    expect(a.pod.ping('fd00:78::3')).toBe(true);
    expect(a.pod.ping('192.168.250.1')).toBe(true);
    expect(a.pod.ping('fd99:250::1')).toBe(true);

    await callOk(n, 'CHECK', withPrev(c, a.result), a);
    // Tampering is detected: the host's route back to the pod.
    n.node.ip('route', 'del', '10.78.0.2/32', 'dev', hv);
    const bad = await call(n, 'CHECK', withPrev(c, a.result), a);
    expect(bad.json).toMatchObject({ code: 130 });
    expect(bad.json.msg).toContain('10.78.0.2/32');

    for (const x of [a, b]) await callOk(n, 'DEL', withPrev(c, x.result), x);
    expect(leases(n)).toEqual([]);
    expect(n.node.links().filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
    expect(a.pod.link('eth0')).toBeUndefined();
    // DEL is idempotent.
    await callOk(n, 'DEL', withPrev(c, a.result), a);
  });

  it('routed mode, dual stack: Calico-style state, traffic pod↔pod and pod↔node, CHECK, DEL', async () => {
    const n = net();
    n.node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
    const c = conf(n, 'routed', { v6: 'fd00:78::/64' });
    const a = await attach(n, c);
    const b = await attach(n, c);

    const hv = hostVethOf(a);
    expect(hv).toMatch(/^ptp[0-9a-f]{12}$/);
    expect(a.result.interfaces[0].mac).toBe('ee:ee:ee:ee:ee:ee');
    expect(a.result.ips).toEqual([
      { address: '10.78.0.2/32', gateway: '169.254.1.1', interface: 1 },
      { address: 'fd00:78::2/128', gateway: 'fe80::ecee:eeff:feee:eeee', interface: 1 },
    ]);
    expect(a.result.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '169.254.1.1' },
      { dst: '::/0', gw: 'fe80::ecee:eeff:feee:eeee' },
    ]);
    // Host: no global address, proxy ARP, routes per pod address, forwarding on.
    const hostAddrs = n.node.ipJson('addr', 'show', 'dev', hv)[0].addr_info.map((x: any) => `${x.local}/${x.prefixlen}`);
    expect(hostAddrs).toEqual(['fe80::ecee:eeff:feee:eeee/64']);
    expect(n.node.link(hv).address).toBe('ee:ee:ee:ee:ee:ee');
    for (const [k, v] of [
      [`net/ipv4/conf/${hv}/proxy_arp`, '1'],
      [`net/ipv4/neigh/${hv}/proxy_delay`, '0'],
      [`net/ipv4/conf/${hv}/forwarding`, '1'],
      [`net/ipv6/conf/${hv}/accept_ra`, '0'],
      [`net/ipv6/conf/${hv}/proxy_ndp`, '1'],
      [`net/ipv6/conf/${hv}/forwarding`, '1'],
      ['net/ipv4/ip_forward', '1'],
      ['net/ipv6/conf/all/forwarding', '1'],
    ]) {
      expect([k, n.node.sysctl(k!)]).toEqual([k, v]);
    }
    expect(n.node.routes('-4').find((r) => r.dst === '10.78.0.2')).toMatchObject({ dev: hv, scope: 'link' });
    expect(n.node.routes('-6').find((r) => r.dst === 'fd00:78::2')).toMatchObject({ dev: hv });
    // Pod: /32 and /128, on-link route to 169.254.1.1, default via it; v6 via the host's link-local.
    expect(a.pod.addrs('eth0')).toEqual(expect.arrayContaining(['10.78.0.2/32', 'fd00:78::2/128']));
    expect(a.pod.routes('-4')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: '169.254.1.1', dev: 'eth0', scope: 'link' }),
        expect.objectContaining({ dst: 'default', gateway: '169.254.1.1', dev: 'eth0' }),
      ]),
    );
    expect(a.pod.routes('-6').find((r) => r.dst === 'default')).toMatchObject({ gateway: 'fe80::ecee:eeff:feee:eeee', dev: 'eth0' });

    expect(a.pod.ping('10.78.0.3')).toBe(true);
    expect(b.pod.ping('10.78.0.2')).toBe(true);
    expect(a.pod.ping('fd00:78::3')).toBe(true);
    expect(a.pod.ping('192.168.250.1')).toBe(true);
    expect(b.pod.ping('fd99:250::1')).toBe(true);

    await callOk(n, 'CHECK', withPrev(c, a.result), a);
    n.node.exec('sysctl', ['-qw', `net.ipv4.conf.${hv}.proxy_arp=0`]);
    const bad = await call(n, 'CHECK', withPrev(c, a.result), a);
    expect(bad.json).toMatchObject({ code: 130 });
    expect(bad.json.msg).toContain('proxy_arp');

    for (const x of [a, b]) await callOk(n, 'DEL', withPrev(c, x.result), x);
    expect(leases(n)).toEqual([]);
    expect(n.node.links().filter((l) => l.ifname.startsWith('ptp'))).toEqual([]);
    expect(n.node.routes('-4').filter((r) => r.dst.startsWith('10.78.'))).toEqual([]);
    await callOk(n, 'DEL', withPrev(c, a.result), a);
  });

  it.each(MODES)('two nodes joined by a wire, %s mode: pod on A ↔ pod on B, IPv4 and IPv6', async (mode) => {
    const A = net(false);
    const B = net(false);
    // The wire: a veth between the node namespaces; each node's default route points across it
    // (its uplink), plus the route to the other node's pod subnet (what BIRD would install).
    const wa = uniqueName('wa');
    const wb = uniqueName('wb');
    A.node.ip('link', 'add', wa, 'type', 'veth', 'peer', 'name', wb, 'netns', B.node.name);
    A.node.ip('addr', 'add', '10.99.0.1/30', 'dev', wa);
    B.node.ip('addr', 'add', '10.99.0.2/30', 'dev', wb);
    A.node.ip('-6', 'addr', 'add', 'fd99::1/64', 'dev', wa, 'nodad');
    B.node.ip('-6', 'addr', 'add', 'fd99::2/64', 'dev', wb, 'nodad');
    // No DAD on the wire: a tentative address there would drop the first packets across.
    A.node.exec('sysctl', ['-qw', `net.ipv6.conf.${wa}.accept_dad=0`]);
    B.node.exec('sysctl', ['-qw', `net.ipv6.conf.${wb}.accept_dad=0`]);
    A.node.ip('link', 'set', wa, 'up');
    B.node.ip('link', 'set', wb, 'up');
    A.node.ip('route', 'add', 'default', 'via', '10.99.0.2');
    B.node.ip('route', 'add', 'default', 'via', '10.99.0.1');
    A.node.ip('route', 'add', '10.241.2.0/24', 'via', '10.99.0.2');
    B.node.ip('route', 'add', '10.241.1.0/24', 'via', '10.99.0.1');
    A.node.ip('-6', 'route', 'add', 'fd00:241:2::/64', 'via', 'fd99::2');
    B.node.ip('-6', 'route', 'add', 'fd00:241:1::/64', 'via', 'fd99::1');

    const pa = await attach(A, conf(A, mode, { v4: '10.241.1.0/24', v6: 'fd00:241:1::/64' }));
    const pb = await attach(B, conf(B, mode, { v4: '10.241.2.0/24', v6: 'fd00:241:2::/64' }));
    const [a4, a6] = pa.result.ips.map((i: any) => addr(i.address));
    const [b4, b6] = pb.result.ips.map((i: any) => addr(i.address));
    expect([a4, b4]).toEqual(['10.241.1.2', '10.241.2.2']);
    expect(pa.pod.ping(b4)).toBe(true);
    expect(pb.pod.ping(a4)).toBe(true);
    expect(pa.pod.ping(b6)).toBe(true);
    expect(pb.pod.ping(a6)).toBe(true);
    // Routed hop by hop: pod A → node A → node B → pod B (TTL 64 - 2).
    expect(pa.pod.exec('ping', ['-c', '1', '-W', '2', b4])).toMatch(/ttl=62/);
  });

  it.each([
    ['single stack', [[{ subnet: '10.244.0.0/24' }]], [{ dst: '0.0.0.0/0' }]],
    ['dual stack', [[{ subnet: '10.244.0.0/24' }], [{ subnet: 'fd00:10:244::/64' }]], [{ dst: '0.0.0.0/0' }, { dst: '::/0' }]],
  ])("kind's conflist (%s, 0.3.1) through ADD/DEL with portmap, DEL without prevResult", async (_what, ranges, routes) => {
    const n = net();
    const kindnet = {
      cniVersion: '0.3.1',
      name: 'kindnet',
      plugins: [
        { type: 'ptp', ipMasq: false, ipam: { type: 'host-local', dataDir: n.dataDir, routes, ranges }, mtu: 1500 },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    };
    // What a runtime feeds each plugin of the list.
    const entry = (i: number, prevResult?: unknown) => ({
      cniVersion: kindnet.cniVersion,
      name: kindnet.name,
      ...kindnet.plugins[i],
      ...(prevResult ? { prevResult } : {}),
    });
    const leasesDir = () => leaseDirEntries(join(n.dataDir, 'kindnet'));
    const pod = world.pod();
    const id = containerId();
    const base = {
      node: n.node,
      containerID: id,
      netns: pod.path,
      ifname: 'eth0',
      args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=x',
    };
    const result = await runOk({ ...base, plugin: 'ptp', command: 'ADD', config: entry(0), path: n.path });
    expect(result.cniVersion).toBe('0.3.1');
    expect(result.ips[0]).toMatchObject({ version: '4', address: '10.244.0.2/24', gateway: '10.244.0.1', interface: 1 });
    if (ranges.length === 2) expect(result.ips[1]).toMatchObject({ version: '6', address: 'fd00:10:244::2/64', interface: 1 });
    if (haveReference) await runOk({ ...base, plugin: 'portmap', command: 'ADD', config: entry(1, result), dir: REFERENCE_DIR });
    expect(pod.ping('10.244.0.1')).toBe(true);
    expect(leasesDir().length).toBe(ranges.length);
    if (haveReference) await runOk({ ...base, plugin: 'portmap', command: 'DEL', config: entry(1), dir: REFERENCE_DIR });
    await runOk({ ...base, plugin: 'ptp', command: 'DEL', config: entry(0), path: n.path });
    expect(leasesDir()).toEqual([]);
    expect(pod.link('eth0')).toBeUndefined();
    expect(n.node.links().filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
  });

  it('routed mode: same pod → same host veth across sandboxes; the stale one is replaced; the old DEL spares the new', async () => {
    const n = net();
    const c = conf(n, 'routed');
    const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=db-0';
    const first = await attach(n, c, { args });
    const second = await attach(n, c, { args });
    const hv = hostVethOf(first);
    expect(hostVethOf(second)).toBe(hv);
    // The old sandbox's pair was replaced: its eth0 is gone, the host veth is the new one's peer.
    expect(first.pod.link('eth0')).toBeUndefined();
    expect(n.node.link(hv).link_netnsid).toBeDefined();
    expect(second.pod.ping('192.168.250.1')).toBe(true);
    // A late DEL for the old sandbox releases its lease but leaves the new sandbox alone.
    await callOk(n, 'DEL', withPrev(c, first.result), first);
    expect(n.node.link(hv)).toBeDefined();
    expect(leases(n)).toEqual([addr(second.result.ips[0].address)]);
    expect(second.pod.ping('192.168.250.1')).toBe(true);
    await callOk(n, 'CHECK', withPrev(c, second.result), second);
    // A different pod gets a different name.
    const other = await attach(n, c);
    expect(hostVethOf(other)).not.toBe(hv);
  });

  it('routed mode: the host veth is named prefix + sha1 of "<namespace>.<pod>" (of the container ID without both), cut to 15 bytes', async () => {
    const n = net();
    // Computed here, independently of plugins/ptp/config.ts (prefixes are ASCII: chars = bytes).
    const expectedName = (prefix: string, identity: string) => `${prefix}${createHash('sha1').update(identity).digest('hex')}`.slice(0, 15);
    const pod = uniqueName('pod');
    const cases: { what: string; prefix?: string; args: (id: string) => string; identity: (id: string) => string }[] = [
      {
        what: 'pod identity, default prefix',
        args: () => `IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=${pod}`,
        identity: () => `kube-system.${pod}`,
      },
      { what: 'container ID, default prefix', args: () => 'IgnoreUnknown=1', identity: (id) => id },
      {
        what: 'pod identity, 11-character prefix',
        prefix: 'cali-test_x',
        args: () => `IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=${pod}`,
        identity: () => `prod.${pod}`,
      },
      {
        what: 'namespace without pod name: container ID',
        prefix: 'cali',
        args: () => 'IgnoreUnknown=1;K8S_POD_NAMESPACE=prod',
        identity: (id) => id,
      },
    ];
    for (const k of cases) {
      const c = conf(n, 'routed', { extra: k.prefix === undefined ? {} : { hostVethPrefix: k.prefix } });
      const id = containerId();
      const hv = expectedName(k.prefix ?? 'ptp', k.identity(id));
      expect([k.what, hv.length]).toEqual([k.what, 15]);
      const a = await attach(n, c, { id, args: k.args(id) });
      // The result's host interface (no sandbox) carries that name, and the node has exactly that veth.
      expect([k.what, a.result.interfaces[0]]).toEqual([k.what, expect.objectContaining({ name: hv })]);
      expect(a.result.interfaces[0].sandbox).toBeUndefined();
      expect([k.what, n.node.link(hv)?.linkinfo?.info_kind]).toEqual([k.what, 'veth']);
      expect(
        n.node
          .links()
          .map((l) => l.ifname)
          .sort(),
      ).toEqual([hv, 'lo', 'up0'].sort());
      expect(a.pod.ping('192.168.250.1')).toBe(true);

      await callOk(n, 'DEL', withPrev(c, a.result), a);
      expect([k.what, n.node.link(hv)]).toEqual([k.what, undefined]);
      expect(
        n.node
          .links()
          .map((l) => l.ifname)
          .sort(),
      ).toEqual(['lo', 'up0']);
      expect(leases(n)).toEqual([]);
    }
  });

  it.each(MODES)('%s mode: a host route for the pod IP via another live interface fails ADD, naming it, leaving nothing', async (mode) => {
    const n = net();
    n.node.ip('link', 'add', 'busy0', 'type', 'veth', 'peer', 'name', 'busy1');
    n.node.ip('link', 'set', 'busy0', 'up');
    n.node.ip('link', 'set', 'busy1', 'up');
    n.node.ip('route', 'add', '10.78.0.2/32', 'dev', 'busy0');
    const pod = world.pod();
    const r = await runPlugin({
      plugin: 'ptp',
      command: 'ADD',
      node: n.node,
      config: conf(n, mode),
      containerID: containerId(),
      netns: pod.path,
      ifname: 'eth0',
      path: n.path,
    });
    expect(r.code).not.toBe(0);
    expect(r.json).toMatchObject({ code: 112 });
    expect(r.json.msg).toContain('busy0');
    expect(leases(n)).toEqual([]);
    expect(pod.link('eth0')).toBeUndefined();
    expect(
      n.node
        .links()
        .map((l) => l.ifname)
        .sort(),
    ).toEqual(['busy0', 'busy1', 'lo', 'up0']);
  });

  it('routed mode: a stale host route via an interface without carrier is replaced', async () => {
    const n = net();
    // A leftover veth whose other end is down (as when the pod end went away): up, NO-CARRIER.
    n.node.ip('link', 'add', 'old0', 'type', 'veth', 'peer', 'name', 'old1');
    n.node.ip('link', 'set', 'old0', 'up');
    n.node.ip('route', 'add', '10.78.0.2/32', 'dev', 'old0');
    expect(
      n.node
        .routes('-4')
        .filter((r) => r.dst === '10.78.0.2')
        .map((r) => r.dev),
    ).toEqual(['old0']);
    const a = await attach(n, conf(n, 'routed'));
    const hv = hostVethOf(a);
    expect(
      n.node
        .routes('-4')
        .filter((r) => r.dst === '10.78.0.2')
        .map((r) => r.dev),
    ).toEqual([hv]);
    expect(a.pod.ping('192.168.250.1')).toBe(true);
  });

  it.each(MODES)('%s mode: a failed ADD (interface name taken in the pod) leaves no veth and no lease', async (mode) => {
    const n = net();
    const pod = world.pod();
    pod.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
    const r = await runPlugin({
      plugin: 'ptp',
      command: 'ADD',
      node: n.node,
      config: conf(n, mode),
      containerID: containerId(),
      netns: pod.path,
      ifname: 'eth0',
      path: n.path,
    });
    expect(r.json).toMatchObject({ code: 111 });
    expect(leases(n)).toEqual([]);
    expect(
      n.node
        .links()
        .map((l) => l.ifname)
        .sort(),
    ).toEqual(['lo', 'up0']);
  });

  it.each(MODES)('%s mode: DEL after the pod namespace is gone releases the lease and succeeds twice', async (mode) => {
    const n = net();
    const c = conf(n, mode);
    const a = await attach(n, c);
    expect(leases(n)).toHaveLength(1);
    // Delete the namespace behind the runtime's back (World.cleanup tolerates it being gone).
    sh('ip', ['netns', 'del', a.pod.name]);
    await callOk(n, 'DEL', withPrev(c, a.result), a);
    await callOk(n, 'DEL', c, a);
    expect(leases(n)).toEqual([]);
  });

  it.each(MODES.flatMap((m) => (['iptables', 'nftables'] as const).map((b) => [m, b] as const)))(
    '%s mode: ipMasq rules follow the attachment (%s), CHECK sees them, DEL removes them',
    async (mode, backend) => {
      const n = net();
      const c = conf(n, mode, { extra: { ipMasq: true, ipMasqBackend: backend } });
      const a = await attach(n, c);
      const nat = () => n.node.exec('iptables-save', ['-t', 'nat']) + n.node.exec('nft', ['list', 'ruleset']);
      expect(nat()).toContain(a.id);
      // The pod subnet stays exempt in both modes (routed mode: from IPAM, not the /32).
      expect(nat()).toMatch(backend === 'iptables' ? /-d 10\.78\.0\.0\/24 .*-j ACCEPT/ : /ip daddr != 10\.78\.0\.0\/24/);
      await callOk(n, 'CHECK', withPrev(c, a.result), a);
      await callOk(n, 'DEL', withPrev(c, a.result), a);
      expect(nat()).not.toContain(a.id);
    },
  );

  it('STATUS and GC forward to IPAM', async () => {
    const n = net();
    const c = conf(n, 'routed');
    const a = await attach(n, c);
    const b = await attach(n, c);
    const s = await runPlugin({ plugin: 'ptp', command: 'STATUS', node: n.node, config: c, path: n.path });
    expect(s.code).toBe(0);
    await runOk({
      plugin: 'ptp',
      command: 'GC',
      node: n.node,
      config: { ...c, 'cni.dev/valid-attachments': [{ containerID: a.id, ifname: 'eth0' }] },
      path: n.path,
    });
    expect(leases(n)).toEqual([addr(a.result.ips[0].address)]);
    expect(b.result.ips[0].address).toBe('10.78.0.3/32');
  });
});

describe.skipIf(!isRoot || !havePtp || !haveReference)('ptp vs the reference ptp', () => {
  /** Kernel state with the random parts (veth names, MACs, link-locals) normalised away. */
  function snapshot(node: Netns, pod: Netns, result: any) {
    const hv = result.interfaces[0].name;
    const norm = (s: string | undefined) => (s === hv ? 'HOSTVETH' : s);
    const routes = (ns: Netns, fam: '-4' | '-6') =>
      ns
        .routes(fam)
        .filter((r) => !r.dst.startsWith('fe80') && r.dev !== 'up0')
        .map((r) => ({ dst: r.dst, gateway: r.gateway, dev: norm(r.dev), scope: r.scope, prefsrc: r.prefsrc }))
        .sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
    const globalAddrs = (ns: Netns, dev: string) => ns.addrs(dev).sort();
    return {
      result: {
        ...result,
        interfaces: result.interfaces.map((i: any) => ({
          ...i,
          name: norm(i.name),
          mac: typeof i.mac,
          sandbox: i.sandbox && i.sandbox === pod.path,
        })),
        dns: undefined,
      },
      hostAddrs: globalAddrs(node, hv),
      podAddrs: globalAddrs(pod, 'eth0'),
      hostRoutes: [...routes(node, '-4'), ...routes(node, '-6')],
      podRoutes: [...routes(pod, '-4'), ...routes(pod, '-6')],
      mtu: [node.link(hv).mtu, pod.link('eth0').mtu],
      up: [node.link(hv).flags.includes('UP'), pod.link('eth0').flags.includes('UP')],
      sysctls: ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding', `net/ipv6/conf/${hv}/accept_ra`].map((k) => node.sysctl(k)),
    };
  }

  it.each([
    ['IPv4', undefined],
    ['dual stack', 'fd00:79::/64'],
  ])('%s: same result shape and kernel state in both namespaces', async (_what, v6) => {
    const snaps = [];
    for (const dir of [PLUGIN_DIR, REFERENCE_DIR]) {
      const n = net();
      n.node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
      const c = { ...conf(n, 'reference', { v4: '10.79.0.0/24', v6, version: '1.0.0', extra: { mtu: 1450 } }), name: 'diffnet' };
      const pod = world.pod();
      const id = containerId();
      const path = dir === REFERENCE_DIR ? REFERENCE_DIR : n.path;
      const result = await runOk({
        plugin: 'ptp',
        command: 'ADD',
        node: n.node,
        config: c,
        containerID: id,
        netns: pod.path,
        ifname: 'eth0',
        dir,
        path,
      });
      snaps.push(snapshot(n.node, pod, result));
      expect(pod.ping('10.79.0.1')).toBe(true);
      await runOk({ plugin: 'ptp', command: 'DEL', node: n.node, config: c, containerID: id, netns: pod.path, ifname: 'eth0', dir, path });
      expect(n.node.links().filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
    }
    expect(snaps[0]).toEqual(snaps[1]);
  });
});
