// The bridge plugin against the real kernel: every run inside a throwaway node namespace, pods in
// further namespaces, host-local (ours) as IPAM with a per-test data dir.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  containerId,
  haveBuild,
  isRoot,
  leaseDirEntries,
  type Netns,
  PLUGIN_DIR,
  runOk,
  runPlugin,
  uniqueName,
  World,
} from '../helpers/kernel.ts';

let world: World;
beforeEach(() => {
  world = new World();
});
afterEach(() => world.cleanup());

interface Net {
  node: Netns;
  dataDir: string;
  bridge: string;
  name: string;
}

function net(): Net {
  return { node: world.node(), dataDir: world.tmpdir(), bridge: uniqueName('br'), name: uniqueName('net') };
}

function bridgeConf(n: Net, extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.1.0',
    name: n.name,
    type: 'bridge',
    bridge: n.bridge,
    isGateway: true,
    ipam: { type: 'host-local', dataDir: n.dataDir, ranges: [[{ subnet: '10.77.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], ...ipam },
    ...extra,
  };
}

const leases = (n: Net) => leaseDirEntries(join(n.dataDir, n.name));

async function attach(n: Net, conf: Record<string, unknown>, pod = world.pod(), ifname = 'eth0', id = containerId()) {
  const result = await runOk({ plugin: 'bridge', command: 'ADD', node: n.node, config: conf, containerID: id, netns: pod.path, ifname });
  return { pod, id, ifname, result };
}

const withPrev = (conf: Record<string, unknown>, prevResult: unknown) => ({ ...conf, prevResult });

describe.skipIf(!isRoot || !haveBuild)('bridge', () => {
  it('ADD connects two pods through the bridge; CHECK passes; DEL removes veths and leases', async () => {
    const n = net();
    const conf = bridgeConf(n);
    const a = await attach(n, conf);
    const b = await attach(n, conf);

    expect(a.result.cniVersion).toBe('1.1.0');
    expect(a.result.interfaces.map((i: any) => i.name)).toEqual([n.bridge, expect.stringMatching(/^veth[0-9a-f]{8}$/), 'eth0']);
    expect(a.result.interfaces[2].sandbox).toBe(a.pod.path);
    expect(a.result.ips).toEqual([{ address: '10.77.0.2/24', gateway: '10.77.0.1', interface: 2 }]);
    expect(b.result.ips[0].address).toBe('10.77.0.3/24');
    expect(a.result.routes).toEqual([{ dst: '0.0.0.0/0' }]);

    // Kernel: gateway on the bridge, pod addressed, default route via the gateway, veth enslaved.
    expect(n.node.addrs(n.bridge)).toContain('10.77.0.1/24');
    expect(a.pod.addrs('eth0')).toEqual(['10.77.0.2/24']);
    expect(a.pod.routes().find((r) => r.dst === 'default')).toMatchObject({ gateway: '10.77.0.1', dev: 'eth0' });
    const hostVeth = n.node.link(a.result.interfaces[1].name);
    expect(hostVeth.master).toBe(n.bridge);
    expect(n.node.link(n.bridge).address).toBe(a.result.interfaces[0].mac);
    expect(a.pod.link('eth0').address).toBe(a.result.interfaces[2].mac);
    expect(a.pod.sysctl('net/ipv4/conf/eth0/arp_notify')).toBe('1');
    expect(n.node.sysctl('net/ipv4/ip_forward')).toBe('1');

    expect(a.pod.ping('10.77.0.3')).toBe(true);
    expect(b.pod.ping('10.77.0.1')).toBe(true);

    await runOk({
      plugin: 'bridge',
      command: 'CHECK',
      node: n.node,
      config: withPrev(conf, a.result),
      containerID: a.id,
      netns: a.pod.path,
      ifname: 'eth0',
    });

    for (const x of [a, b]) {
      await runOk({
        plugin: 'bridge',
        command: 'DEL',
        node: n.node,
        config: withPrev(conf, x.result),
        containerID: x.id,
        netns: x.pod.path,
        ifname: 'eth0',
      });
    }
    expect(a.pod.link('eth0')).toBeUndefined();
    expect(n.node.links().filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
    expect(leases(n)).toEqual([]);
    // The bridge stays (other attachments may share it).
    expect(n.node.link(n.bridge)).toBeDefined();

    // DEL is idempotent: again, and with the namespace gone.
    await runOk({ plugin: 'bridge', command: 'DEL', node: n.node, config: conf, containerID: a.id, netns: a.pod.path, ifname: 'eth0' });
    await runOk({
      plugin: 'bridge',
      command: 'DEL',
      node: n.node,
      config: conf,
      containerID: a.id,
      netns: '/run/netns/does-not-exist',
      ifname: 'eth0',
    });
  });

  it('prints the result in exactly the requested version', async () => {
    const n = net();
    for (const version of ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const { result } = await attach(n, { ...bridgeConf(n), cniVersion: version });
      expect(result.cniVersion).toBe(version);
      if (version.startsWith('0.1') || version.startsWith('0.2')) {
        expect(result.ip4.ip).toMatch(/^10\.77\.0\.\d+\/24$/);
        expect(result.ip4.gateway).toBe('10.77.0.1');
        expect(result.interfaces).toBeUndefined();
      } else {
        expect(result.ips[0].interface).toBe(2);
        if (version.startsWith('0.3') || version.startsWith('0.4')) expect(result.ips[0].version).toBe('4');
        else expect(result.ips[0].version).toBeUndefined();
      }
    }
  });

  it('CHECK reports a missing route with code 130', async () => {
    const n = net();
    const conf = bridgeConf(n);
    const a = await attach(n, conf);
    a.pod.ip('route', 'del', 'default');
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'CHECK',
      node: n.node,
      config: withPrev(conf, a.result),
      containerID: a.id,
      netns: a.pod.path,
      ifname: 'eth0',
    });
    expect(r.code).not.toBe(0);
    expect(r.json).toMatchObject({ cniVersion: '1.1.0', code: 130 });
    expect(r.json.msg).toContain('0.0.0.0/0');
  });

  it('a failed ADD (interface name taken in the pod) leaves no veth and no lease', async () => {
    const n = net();
    const conf = bridgeConf(n);
    const pod = world.pod();
    pod.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p');
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'ADD',
      node: n.node,
      config: conf,
      containerID: containerId(),
      netns: pod.path,
      ifname: 'eth0',
    });
    expect(r.code).not.toBe(0);
    expect(r.json).toMatchObject({ code: 111 });
    expect(r.stdout).not.toMatch(/\n\s+at /); // no stack trace
    expect(leases(n)).toEqual([]);
    expect(n.node.links().filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
  });

  it('a failed ADD halfway (route the kernel rejects) rolls back veth and lease', async () => {
    const n = net();
    // A route via a gateway outside every connected subnet: the kernel refuses it after the veth exists.
    const conf = bridgeConf(n, {}, { routes: [{ dst: '192.0.2.0/24', gw: '198.51.100.1' }] });
    const pod = world.pod();
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'ADD',
      node: n.node,
      config: conf,
      containerID: containerId(),
      netns: pod.path,
      ifname: 'eth0',
    });
    expect(r.code).not.toBe(0);
    expect(r.json.code).toBe(110);
    expect(pod.link('eth0')).toBeUndefined();
    expect(n.node.links().filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
    expect(leases(n)).toEqual([]);
  });

  it('a failed ADD whose rollback fails too names the failed undo step in the error details', async () => {
    const n = net();
    // An IPAM plugin of the test's own whose ADD hands out a route the kernel refuses and whose DEL fails.
    const ipamDir = world.tmpdir();
    const fakeIpam = uniqueName('ipam');
    const added = { cniVersion: '1.1.0', ips: [{ address: '10.77.0.9/24' }], routes: [{ dst: '192.0.2.0/24', gw: '198.51.100.1' }] };
    const script = [
      '#!/bin/sh',
      'cat >/dev/null',
      'case "$CNI_COMMAND" in',
      `ADD) printf '%s' '${JSON.stringify(added)}' ;;`,
      `DEL) printf '%s' '{"cniVersion":"1.1.0","code":11,"msg":"lease store unavailable"}'; exit 1 ;;`,
      'esac',
    ];
    writeFileSync(join(ipamDir, fakeIpam), `${script.join('\n')}\n`, { mode: 0o755 });
    const pod = world.pod();
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'ADD',
      node: n.node,
      config: { ...bridgeConf(n), ipam: { type: fakeIpam } },
      containerID: containerId(),
      netns: pod.path,
      ifname: 'eth0',
      path: `${ipamDir}:${PLUGIN_DIR}`,
    });
    expect(r.code).not.toBe(0);
    expect(r.json.code).toBe(110); // the failure that stopped ADD, not the rollback's
    expect(r.json.details).toMatch(/rollback: IPAM allocation: lease store unavailable$/);
    expect(pod.link('eth0')).toBeUndefined(); // the other undo steps still ran
    expect(n.node.links().filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
  });

  it('DEL after the pod namespace was removed releases the lease', async () => {
    const n = net();
    const conf = bridgeConf(n);
    const a = await attach(n, conf);
    a.pod.ip('link', 'show'); // exists
    world.removeNetns(a.pod);
    await runOk({
      plugin: 'bridge',
      command: 'DEL',
      node: n.node,
      config: withPrev(conf, a.result),
      containerID: a.id,
      netns: a.pod.path,
      ifname: 'eth0',
    });
    expect(leases(n)).toEqual([]);
  });

  it('applies mtu, hairpinMode and portIsolation to the kernel', async () => {
    const n = net();
    const conf = bridgeConf(n, { mtu: 1400, hairpinMode: true, portIsolation: true });
    const a = await attach(n, conf);
    const host = n.node.link(a.result.interfaces[1].name);
    expect(host.mtu).toBe(1400);
    expect(a.pod.link('eth0').mtu).toBe(1400);
    expect(n.node.link(n.bridge).mtu).toBe(1400);
    expect(host.linkinfo.info_slave_data.hairpin).toBe(true);
    expect(host.linkinfo.info_slave_data.isolated).toBe(true);
  });

  it('promiscMode sets the bridge promiscuous; hairpinMode with promiscMode is rejected', async () => {
    const n = net();
    await attach(n, bridgeConf(n, { promiscMode: true }));
    expect(n.node.link(n.bridge).promiscuity).toBeGreaterThan(0);
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'ADD',
      node: n.node,
      config: bridgeConf(n, { promiscMode: true, hairpinMode: true }),
      containerID: containerId(),
      netns: world.pod().path,
      ifname: 'eth0',
    });
    expect(r.json).toMatchObject({ code: 7 });
  });

  it('L2 mode (no ipam type) brings the pod link up without addresses', async () => {
    const n = net();
    const conf = { cniVersion: '1.0.0', name: n.name, type: 'bridge', bridge: n.bridge, ipam: {} };
    const a = await attach(n, conf);
    expect(a.result.ips).toBeUndefined();
    // UP, and LOWER_UP: the carrier is on, so the host end is up on the bridge too (operstate is
    // not asserted: the kernel's linkwatch updates it a moment later).
    expect(a.pod.link('eth0').flags).toEqual(expect.arrayContaining(['UP', 'LOWER_UP']));
    expect(a.pod.addrs('eth0').filter((x) => !x.startsWith('fe80'))).toEqual([]);
  });

  it('an ADD whose result the requested version cannot express (L2 mode at 0.2.0) is undone', async () => {
    const n = net();
    const pod = world.pod();
    const conf = { cniVersion: '0.2.0', name: n.name, type: 'bridge', bridge: n.bridge, macspoofchk: true };
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'ADD',
      node: n.node,
      config: conf,
      containerID: containerId(),
      netns: pod.path,
      ifname: 'eth0',
    });
    expect(r.json).toMatchObject({ cniVersion: '0.2.0', code: 1 });
    expect(pod.link('eth0')).toBeUndefined();
    expect(n.node.links().filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
    expect(n.node.exec('nft', ['list', 'ruleset'])).not.toContain('macspoofchk-');
  });

  it('disableContainerInterface leaves the pod link down; combined with ipam it is an error', async () => {
    const n = net();
    const a = await attach(n, { cniVersion: '1.0.0', name: n.name, type: 'bridge', bridge: n.bridge, disableContainerInterface: true });
    expect(a.pod.link('eth0').flags).not.toContain('UP');
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'ADD',
      node: n.node,
      config: bridgeConf(n, { disableContainerInterface: true }),
      containerID: containerId(),
      netns: world.pod().path,
      ifname: 'eth0',
    });
    expect(r.json).toMatchObject({ code: 7 });
  });

  it('isDefaultGateway adds the default route; isGateway fills in the gateway', async () => {
    const n = net();
    const conf = bridgeConf(n, { isGateway: false, isDefaultGateway: true }, { routes: [] });
    const a = await attach(n, conf);
    expect(a.result.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.77.0.1' }]);
    expect(a.pod.routes().find((r) => r.dst === 'default')?.gateway).toBe('10.77.0.1');
  });

  it('refuses to change a different bridge address unless forceAddress', async () => {
    const n = net();
    n.node.ip('link', 'add', n.bridge, 'type', 'bridge');
    n.node.ip('addr', 'add', '10.77.0.254/24', 'dev', n.bridge);
    const conf = bridgeConf(n);
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'ADD',
      node: n.node,
      config: conf,
      containerID: containerId(),
      netns: world.pod().path,
      ifname: 'eth0',
    });
    expect(r.code).not.toBe(0);
    expect(r.json.msg).toContain('already has an IP address different from 10.77.0.1/24');
    expect(leases(n)).toEqual([]);
    await attach(n, bridgeConf(n, { forceAddress: true }));
    expect(n.node.addrs(n.bridge)).toEqual(['10.77.0.1/24']);
  });

  it('refuses a bridge name that belongs to a non-bridge link', async () => {
    const n = net();
    n.node.ip('link', 'add', n.bridge, 'type', 'veth', 'peer', 'name', uniqueName('p'));
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'ADD',
      node: n.node,
      config: bridgeConf(n),
      containerID: containerId(),
      netns: world.pod().path,
      ifname: 'eth0',
    });
    expect(r.json).toMatchObject({ code: 111 });
    expect(leases(n)).toEqual([]);
    const s = await runPlugin({ plugin: 'bridge', command: 'STATUS', node: n.node, config: bridgeConf(n) });
    expect(s.json).toMatchObject({ code: 50 });
  });

  it('dual-stack: both families addressed, IPv6 usable at once (no DAD wait)', async () => {
    const n = net();
    const conf = bridgeConf(
      n,
      {},
      { ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }] },
    );
    const a = await attach(n, conf);
    const b = await attach(n, conf);
    expect(a.result.ips.map((i: any) => i.address)).toEqual(['10.77.0.2/24', 'fd77::2/64']);
    expect(a.result.ips[1].gateway).toBe('fd77::1');
    expect(n.node.addrs(n.bridge)).toEqual(expect.arrayContaining(['10.77.0.1/24', 'fd77::1/64']));
    expect(n.node.sysctl('net/ipv6/conf/all/forwarding')).toBe('1');
    expect(a.pod.ping('fd77::3')).toBe(true);
    expect(b.pod.ping('10.77.0.2')).toBe(true);
    await runOk({
      plugin: 'bridge',
      command: 'CHECK',
      node: n.node,
      config: withPrev(conf, a.result),
      containerID: a.id,
      netns: a.pod.path,
      ifname: 'eth0',
    });
  });

  it('vlan: an access port of that VLAN on a vlan-filtering bridge (or a clean error where the kernel lacks it)', async () => {
    const n = net();
    const probe = n.node.tryExec('ip', ['link', 'add', uniqueName('vp'), 'type', 'bridge', 'vlan_filtering', '1']);
    const conf = bridgeConf(n, { vlan: 100, isGateway: false }, { routes: [] });
    if (probe.code !== 0) {
      // This kernel has no bridge VLAN filtering: ADD must fail as a kernel error and undo its lease.
      const r = await runPlugin({
        plugin: 'bridge',
        command: 'ADD',
        node: n.node,
        config: conf,
        containerID: containerId(),
        netns: world.pod().path,
        ifname: 'eth0',
      });
      expect(r.json).toMatchObject({ code: 110 });
      expect(r.json.msg).toContain('vlan_filtering');
      expect(leases(n)).toEqual([]);
      return;
    }
    const a = await attach(n, conf);
    expect(n.node.link(n.bridge).linkinfo.info_data.vlan_filtering).toBe(1);
    const vlans = JSON.parse(n.node.exec('bridge', ['-json', 'vlan', 'show', 'dev', a.result.interfaces[1].name]));
    const entry = (Array.isArray(vlans) ? vlans[0] : undefined)?.vlans ?? [];
    expect(entry).toEqual([{ vlan: 100, flags: ['PVID', 'Egress Untagged'] }]);
  });

  it('many concurrent ADDs on a fresh bridge all succeed with distinct addresses', async () => {
    const n = net();
    const conf = bridgeConf(n);
    const pods = Array.from({ length: 6 }, () => world.pod());
    const results = await Promise.all(
      pods.map((pod) =>
        runPlugin({
          plugin: 'bridge',
          command: 'ADD',
          node: n.node,
          config: conf,
          containerID: containerId(),
          netns: pod.path,
          ifname: 'eth0',
        }),
      ),
    );
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    const addrs = results.map((r) => r.json.ips[0].address);
    expect(new Set(addrs).size).toBe(6);
    expect(pods[0]!.ping(addrs[5].split('/')[0])).toBe(true);
  });

  /** An "outside" namespace behind the node, with no route back to the pod network. */
  function uplink(n: Net): Netns {
    const outside = world.netns('cnitso');
    const a = uniqueName('up');
    const b = uniqueName('up');
    n.node.ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', outside.name);
    n.node.ip('addr', 'add', '192.0.2.1/24', 'dev', a);
    n.node.ip('link', 'set', a, 'up');
    outside.ip('addr', 'add', '192.0.2.2/24', 'dev', b);
    outside.ip('link', 'set', b, 'up');
    return outside;
  }

  for (const backend of ['iptables', 'nftables'] as const) {
    it(`ipMasq (${backend}): pod reaches a network that has no route back; DEL removes every rule`, async () => {
      const n = net();
      uplink(n);
      const conf = bridgeConf(n, { ipMasq: true, ipMasqBackend: backend });
      const a = await attach(n, conf);
      expect(a.pod.ping('192.0.2.2')).toBe(true);
      const rules = () => n.node.exec('iptables-save', ['-t', 'nat']) + n.node.exec('nft', ['list', 'ruleset']);
      expect(rules()).toContain(a.id);
      await runOk({
        plugin: 'bridge',
        command: 'CHECK',
        node: n.node,
        config: withPrev(conf, a.result),
        containerID: a.id,
        netns: a.pod.path,
        ifname: 'eth0',
      });
      await runOk({
        plugin: 'bridge',
        command: 'DEL',
        node: n.node,
        config: withPrev(conf, a.result),
        containerID: a.id,
        netns: a.pod.path,
        ifname: 'eth0',
      });
      expect(rules()).not.toContain(a.id);
    });
  }

  it('ipMasq: without masquerade the same ping fails (the uplink test proves something)', async () => {
    const n = net();
    uplink(n);
    const a = await attach(n, bridgeConf(n));
    expect(a.pod.ping('192.0.2.2')).toBe(false);
  });

  it('ipMasq: DEL after the netns is gone still removes the rules (no leaked CNI- chain)', async () => {
    const n = net();
    const conf = bridgeConf(n, { ipMasq: true });
    const a = await attach(n, conf);
    world.removeNetns(a.pod);
    await runOk({ plugin: 'bridge', command: 'DEL', node: n.node, config: conf, containerID: a.id, netns: a.pod.path, ifname: 'eth0' });
    expect(n.node.exec('iptables-save', ['-t', 'nat']) + n.node.exec('nft', ['list', 'ruleset'])).not.toContain(a.id);
    expect(leases(n)).toEqual([]);
  });

  it('macspoofchk: frames with a foreign source MAC are dropped; DEL removes the rules', async () => {
    const n = net();
    const conf = bridgeConf(n, { macspoofchk: true });
    const a = await attach(n, conf);
    const b = await attach(n, conf);
    expect(a.pod.ping('10.77.0.3')).toBe(true);
    const ruleset = () => n.node.exec('nft', ['list', 'table', 'bridge', 'nat']);
    expect(ruleset()).toContain(`macspoofchk-${a.id}-eth0`);
    await runOk({
      plugin: 'bridge',
      command: 'CHECK',
      node: n.node,
      config: withPrev(conf, a.result),
      containerID: a.id,
      netns: a.pod.path,
      ifname: 'eth0',
    });
    // Spoof: change the pod's MAC behind the plugin's back; its traffic must now be dropped.
    a.pod.ip('link', 'set', 'eth0', 'address', '02:00:00:00:be:ef');
    a.pod.ip('neigh', 'flush', 'all');
    b.pod.ip('neigh', 'flush', 'all');
    expect(a.pod.ping('10.77.0.3')).toBe(false);
    await runOk({
      plugin: 'bridge',
      command: 'DEL',
      node: n.node,
      config: withPrev(conf, a.result),
      containerID: a.id,
      netns: a.pod.path,
      ifname: 'eth0',
    });
    expect(ruleset()).not.toContain(`macspoofchk-${a.id}-eth0`);
    expect(ruleset()).toContain(`macspoofchk-${b.id}-eth0`);
  });

  it('portIsolation: isolated pods cannot reach each other but reach the gateway', async () => {
    const n = net();
    const conf = bridgeConf(n, { portIsolation: true });
    const a = await attach(n, conf);
    const b = await attach(n, conf);
    expect(a.pod.ping('10.77.0.1')).toBe(true);
    expect(b.pod.ping('10.77.0.1')).toBe(true);
    expect(a.pod.ping('10.77.0.3')).toBe(false);
    // Without isolation the same two pods do talk (the failure above is the isolation, nothing else).
    n.node.ip('link', 'set', 'dev', a.result.interfaces[1].name, 'type', 'bridge_slave', 'isolated', 'off');
    expect(a.pod.ping('10.77.0.3')).toBe(true);
  });

  it('an exhausted range fails ADD with 100 and leaves no veth behind', async () => {
    const n = net();
    const conf = bridgeConf(n, {}, { ranges: [[{ subnet: '10.77.0.0/24', rangeStart: '10.77.0.2', rangeEnd: '10.77.0.2' }]] });
    await attach(n, conf);
    const pod = world.pod();
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'ADD',
      node: n.node,
      config: conf,
      containerID: containerId(),
      netns: pod.path,
      ifname: 'eth0',
    });
    expect(r.json).toMatchObject({ code: 100 });
    expect(pod.link('eth0')).toBeUndefined();
    expect(n.node.links().filter((l) => l.ifname.startsWith('veth'))).toHaveLength(1);
    expect(leases(n)).toEqual(['10.77.0.2']);
  });

  it('GC removes the masquerade and spoof-check state of attachments not in the valid list', async () => {
    const n = net();
    const conf = bridgeConf(n, { ipMasq: true, macspoofchk: true });
    const a = await attach(n, conf);
    const b = await attach(n, conf);
    const state = () => n.node.exec('iptables-save', ['-t', 'nat']) + n.node.exec('nft', ['list', 'ruleset']);
    expect(state()).toContain(b.id);
    // b's pod is gone without a DEL (a lost sandbox): GC with only a in the list cleans b up.
    world.removeNetns(b.pod);
    // The kernel destroys a deleted namespace, and with it b's veth pair, asynchronously; GC rightly
    // keeps the spoof check of a host veth that still exists, so wait for it to go.
    await vi.waitFor(() => expect(n.node.link(b.result.interfaces[1].name)).toBeUndefined(), { timeout: 10_000 });
    await runOk({
      plugin: 'bridge',
      command: 'GC',
      node: n.node,
      config: { ...conf, 'cni.dev/valid-attachments': [{ containerID: a.id, ifname: 'eth0' }] },
    });
    expect(state()).not.toContain(b.id);
    expect(state()).toContain(a.id);
    expect(leases(n)).toEqual(['10.77.0.2']);
    expect(a.pod.ping('10.77.0.1')).toBe(true);
  });

  it('GC releases leases of attachments not in cni.dev/valid-attachments', async () => {
    const n = net();
    const conf = bridgeConf(n);
    const a = await attach(n, conf);
    const b = await attach(n, conf);
    await runOk({
      plugin: 'bridge',
      command: 'GC',
      node: n.node,
      config: { ...conf, 'cni.dev/valid-attachments': [{ containerID: a.id, ifname: 'eth0' }] },
    });
    expect(leases(n)).toEqual(['10.77.0.2']);
    expect(b.result.ips[0].address).toBe('10.77.0.3/24');
  });
});
