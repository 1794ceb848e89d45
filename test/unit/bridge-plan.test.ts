// Pure parts of the bridge plugin: config validation, gateway/route planning, host-side batch lines.
import { describe, expect, it } from 'vitest';
import type { Request } from '../../lib/cni/dispatch.ts';
import { toLine } from '../../lib/kernel/ip-ops.ts';
import { loadBridgeConfig } from '../../plugins/bridge/config.ts';
import {
  buildBridgeResult,
  planBridgeAddresses,
  planBridgeAddressing,
  planCreateBridge,
  planHostPort,
  planPortVlans,
} from '../../plugins/bridge/plan.ts';
import { errorOf } from '../helpers/cni-error.ts';

const req = (config: Record<string, unknown>, cniArgs: Record<string, string> = {}) =>
  ({
    config: { cniVersion: '1.0.0', name: 'n', type: 'bridge', ...config },
    cniArgs: new Map(Object.entries(cniArgs)),
  }) as unknown as Request;

describe('loadBridgeConfig', () => {
  it('applies the reference defaults', async () => {
    const c = await loadBridgeConfig(req({ ipam: { type: 'host-local' } }));
    expect(c).toMatchObject({
      bridge: 'cni0',
      isGateway: false,
      ipMasq: false,
      vlan: 0,
      vlanTrunk: [],
      ipamType: 'host-local',
      mtu: undefined,
    });
  });
  it('isDefaultGateway implies isGateway', async () => {
    expect((await loadBridgeConfig(req({ isDefaultGateway: true }))).isGateway).toBe(true);
  });
  it('ipMasq is ignored in L2 mode', async () => {
    expect((await loadBridgeConfig(req({ ipMasq: true }))).ipMasq).toBe(false);
    expect((await loadBridgeConfig(req({ ipMasq: true, ipam: { type: 'x' } }))).ipMasq).toBe(true);
  });
  it.each([
    [{ vlan: 4095 }],
    [{ vlan: -1 }],
    [{ hairpinMode: true, promiscMode: true }],
    [{ disableContainerInterface: true, ipam: { type: 'host-local' } }],
    [{ vlanTrunk: [{ minID: 10 }] }],
    [{ vlanTrunk: [{ minID: 20, maxID: 10 }] }],
    [{ vlanTrunk: [{ id: 5000 }] }],
    [{ bridge: 'a-name-longer-than-15' }],
    [{ bridge: 'bad/name' }],
    [{ mtu: 'big' }],
    [{ isGateway: 'true' }],
    [{ ipMasqBackend: 'ebtables' }],
  ])('rejects %j with an invalid-config error', async (bad) => {
    const { code } = await errorOf(() => loadBridgeConfig(req(bad)));
    expect([2, 7]).toContain(code);
  });
  it('expands trunk ranges and sorts them', async () => {
    expect((await loadBridgeConfig(req({ vlanTrunk: [{ id: 7 }, { minID: 3, maxID: 5 }] }))).vlanTrunk).toEqual([3, 4, 5, 7]);
  });
  it('takes the container MAC from runtimeConfig before args before CNI_ARGS', async () => {
    const all = { runtimeConfig: { mac: '02:00:00:00:00:01' }, args: { cni: { mac: '02:00:00:00:00:02' } } };
    expect((await loadBridgeConfig(req(all, { MAC: '02:00:00:00:00:03' }))).mac).toBe('02:00:00:00:00:01');
    expect((await loadBridgeConfig(req({ args: all.args }, { MAC: '02:00:00:00:00:03' }))).mac).toBe('02:00:00:00:00:02');
    expect((await loadBridgeConfig(req({}, { MAC: '02:00:00:00:00:03' }))).mac).toBe('02:00:00:00:00:03');
    expect((await errorOf(() => loadBridgeConfig(req({}, { MAC: '01:00:00:00:00:03' })))).code).toBe(7); // multicast
    expect((await errorOf(() => loadBridgeConfig(req({}, { MAC: 'nope' })))).code).toBe(7);
  });
});

describe('planBridgeAddressing', () => {
  const cfg = (extra: Record<string, unknown> = {}) => loadBridgeConfig(req({ ipam: { type: 'host-local' }, ...extra }));
  it('fills the gateway (network + 1) and the bridge address with isGateway', async () => {
    const plan = planBridgeAddressing(await cfg({ isGateway: true }), { cniVersion: '1.1.0', ips: [{ address: '10.1.2.7/16' }] });
    expect(plan.ips).toEqual([{ address: '10.1.2.7/16', gateway: '10.1.0.1', interface: 2 }]);
    expect(plan.bridgeAddresses).toEqual(['10.1.0.1/16']);
    expect(plan.routes).toEqual([]);
  });
  it('keeps an IPAM gateway and leaves the bridge bare without isGateway', async () => {
    const plan = planBridgeAddressing(await cfg(), { cniVersion: '1.1.0', ips: [{ address: '10.1.2.7/16', gateway: '10.1.0.254' }] });
    expect(plan.ips[0]!.gateway).toBe('10.1.0.254');
    expect(plan.bridgeAddresses).toEqual([]);
  });
  it('adds a default route per family with isDefaultGateway, or fills a gateway-less one', async () => {
    const plan = planBridgeAddressing(await cfg({ isDefaultGateway: true }), {
      cniVersion: '1.1.0',
      ips: [{ address: '10.0.0.2/24' }, { address: 'fd00::2/64' }],
      routes: [{ dst: '::/0' }],
    });
    expect(plan.routes).toEqual([
      { dst: '::/0', gw: 'fd00::1' },
      { dst: '0.0.0.0/0', gw: '10.0.0.1' },
    ]);
    expect(plan.bridgeAddresses).toEqual(['10.0.0.1/24', 'fd00::1/64']);
  });
  it('rejects isDefaultGateway when IPAM routes the default elsewhere', async () => {
    const gatewayCfg = await cfg({ isDefaultGateway: true });
    const { code } = errorOf(() =>
      planBridgeAddressing(gatewayCfg, {
        cniVersion: '1.1.0',
        ips: [{ address: '10.0.0.2/24' }],
        routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.9' }],
      }),
    );
    expect(code).toBe(7);
  });
});

describe('host-side plans', () => {
  const c = (extra: Record<string, unknown>) => loadBridgeConfig(req({ bridge: 'br0', ...extra }));
  it('creates the bridge with mtu and vlan filtering only when needed', async () => {
    expect(toLine(planCreateBridge(await c({}), '02:00:00:00:00:aa'))).toBe('link add br0 address 02:00:00:00:00:aa type bridge');
    expect(toLine(planCreateBridge(await c({ mtu: 9000, vlan: 5 }), '02:00:00:00:00:aa'))).toBe(
      'link add br0 address 02:00:00:00:00:aa mtu 9000 type bridge vlan_filtering 1',
    );
  });
  it('sets port flags in one line', async () => {
    expect(planHostPort(await c({ hairpinMode: true, portIsolation: true }), 'veth1').map(toLine)).toEqual([
      'link set veth1 master br0',
      'link set dev veth1 type bridge_slave hairpin on isolated on',
      'link set veth1 up',
      'link set br0 up',
    ]);
  });
  it('plans access and trunk VLANs like the reference', async () => {
    expect(planPortVlans(await c({}), 'v')).toEqual([]);
    expect(planPortVlans(await c({ vlan: 10, vlanTrunk: [{ id: 20 }] }), 'v')).toEqual([
      'vlan del dev v vid 1',
      'vlan add dev v vid 10 pvid untagged master',
      'vlan add dev v vid 20 master',
    ]);
    expect(planPortVlans(await c({ vlanTrunk: [{ id: 20 }] }), 'v')).toEqual([
      'vlan del dev v vid 1',
      'vlan add dev v vid 1 pvid untagged master',
      'vlan add dev v vid 20 master',
    ]);
    expect(planPortVlans(await c({ vlan: 10, preserveDefaultVlan: true }), 'v')).toEqual(['vlan add dev v vid 10 pvid untagged master']);
  });
  it('adds a missing gateway address, keeps a present one, refuses a different one without forceAddress', async () => {
    const cfg = await c({});
    expect(planBridgeAddresses(cfg, ['10.0.0.1/24'], []).map(toLine)).toEqual(['addr replace 10.0.0.1/24 dev br0']);
    expect(planBridgeAddresses(cfg, ['10.0.0.1/24'], [{ family: 4, cidr: '10.0.0.1/24' }]).map(toLine)).toEqual([]);
    expect(errorOf(() => planBridgeAddresses(cfg, ['10.0.0.1/24'], [{ family: 4, cidr: '10.9.0.1/24' }])).code).toBe(111);
    expect(planBridgeAddresses(await c({ forceAddress: true }), ['10.0.0.1/24'], [{ family: 4, cidr: '10.9.0.1/24' }]).map(toLine)).toEqual(
      ['addr del 10.9.0.1/24 dev br0', 'addr replace 10.0.0.1/24 dev br0'],
    );
    // IPv6: a non-overlapping extra address is no conflict.
    expect(planBridgeAddresses(cfg, ['fd00::1/64'], [{ family: 6, cidr: 'fd01::1/64' }]).map(toLine)).toEqual([
      'addr replace fd00::1/64 dev br0 nodad',
    ]);
  });
  it('lets the config dns override the IPAM dns only when it says something', async () => {
    const base = { bridgeMac: 'm', hostVeth: 'v', hostMac: 'h', ifname: 'eth0', containerMac: 'c', netns: '/x' };
    const ipamDns = { nameservers: ['1.1.1.1'] };
    expect(buildBridgeResult({ ...base, cfg: await c({ dns: {} }), ipamDns }).dns).toEqual(ipamDns);
    expect(buildBridgeResult({ ...base, cfg: await c({ dns: { search: ['a'] } }), ipamDns }).dns).toEqual({ search: ['a'] });
  });
});
