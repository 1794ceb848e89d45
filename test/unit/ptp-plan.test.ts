// Pure parts of the ptp plugin: addressing per mode, pod/host batch lines, sysctls, host-route
// conflicts, the result, and CHECK's expectations.
import { describe, expect, it } from 'vitest';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import type { Result } from '../../lib/cni/types.ts';
import { queryArgs, toLine } from '../../lib/kernel/ip-ops.ts';
import { planPodAddressing } from '../../lib/kernel/pod-interface.ts';
import type { LinkInfo, RouteInfo } from '../../lib/kernel/shapes.ts';
import type { PtpConfig } from '../../plugins/ptp/config.ts';
import {
  buildPtpResult,
  devicesInTheWay,
  expectedHostState,
  expectedPodGatewayRoutes,
  globalForwardingSysctls,
  hostRouteQueries,
  hostVethSysctls,
  masqAddressesOf,
  planHostLink,
  planHostRoutes,
  planPtpAddressing,
  routesTo,
} from '../../plugins/ptp/plan.ts';
import { errorOf } from '../helpers/cni-error.ts';

const dual: Result = {
  cniVersion: '1.1.0',
  ips: [
    { address: '10.244.0.5/24', gateway: '10.244.0.1' },
    { address: 'fd00:10:244::5/64', gateway: 'fd00:10:244::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
};

describe('reference mode', () => {
  const a = planPtpAddressing('reference', 'eth0', dual);
  it('keeps the IPAM prefix and points the addresses at the container interface', () => {
    expect(a.ips).toEqual([
      { address: '10.244.0.5/24', gateway: '10.244.0.1', interface: 1 },
      { address: 'fd00:10:244::5/64', gateway: 'fd00:10:244::1', interface: 1 },
    ]);
    expect(a.routes).toEqual(dual.routes);
  });
  it('replaces the connected route by gateway routes, as the reference', () => {
    expect(a.podGatewayOps.map(toLine)).toEqual([
      'route del 10.244.0.0/24 dev eth0',
      'route add 10.244.0.1/32 dev eth0 scope link src 10.244.0.5',
      'route add 10.244.0.0/24 via 10.244.0.1 dev eth0 src 10.244.0.5',
      'route del fd00:10:244::/64 dev eth0',
      'route add fd00:10:244::1/128 dev eth0 scope link src fd00:10:244::5',
      'route add fd00:10:244::/64 via fd00:10:244::1 dev eth0 src fd00:10:244::5',
    ]);
  });
  it('gives the host veth the gateways and a scope host route per pod address', () => {
    expect(planHostLink('vethx', a).map(toLine)).toEqual([
      'link set vethx up',
      'addr replace 10.244.0.1/32 dev vethx',
      'addr replace fd00:10:244::1/128 dev vethx nodad',
    ]);
    expect(planHostRoutes('vethx', a, [], []).map(toLine)).toEqual([
      'route add 10.244.0.5/32 dev vethx scope host',
      'route add fd00:10:244::5/128 dev vethx',
    ]);
  });
  it('fills a missing gateway with the first address of the subnet; a /32 without one is an error', () => {
    expect(planPtpAddressing('reference', 'eth0', { cniVersion: '1.1.0', ips: [{ address: '10.1.2.9/24' }] }).ips[0]!.gateway).toBe(
      '10.1.2.1',
    );
    expect(() => planPtpAddressing('reference', 'eth0', { cniVersion: '1.1.0', ips: [{ address: '10.1.2.9/32' }] })).toThrow(CniError);
  });
  it('an IPAM result without addresses is an error', () => {
    expect(() => planPtpAddressing('reference', 'eth0', { cniVersion: '1.1.0' })).toThrow(/missing IP config/);
  });
  it('one gateway address per distinct gateway', () => {
    const two = planPtpAddressing('reference', 'eth0', {
      cniVersion: '1.1.0',
      ips: [
        { address: '10.1.0.5/24', gateway: '10.1.0.1' },
        { address: '10.1.0.6/24', gateway: '10.1.0.1' },
      ],
    });
    expect(two.hostAddresses).toEqual(['10.1.0.1/32']);
    expect(two.hostRouteDsts).toEqual(['10.1.0.5/32', '10.1.0.6/32']);
  });
});

describe('routed mode', () => {
  const a = planPtpAddressing('routed', 'eth0', dual);
  it('uses host prefixes and the dummy next hops', () => {
    expect(a.ips).toEqual([
      { address: '10.244.0.5/32', gateway: '169.254.1.1', interface: 1 },
      { address: 'fd00:10:244::5/128', gateway: 'fe80::ecee:eeff:feee:eeee', interface: 1 },
    ]);
    expect(a.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '169.254.1.1' },
      { dst: '::/0', gw: 'fe80::ecee:eeff:feee:eeee' },
    ]);
    expect(a.hostAddresses).toEqual(['fe80::ecee:eeff:feee:eeee/64']);
    expect(a.masqAddresses).toEqual(['10.244.0.5/24', 'fd00:10:244::5/64']);
  });
  it('installs the on-link route to 169.254.1.1 before the routes through it', () => {
    const pod = planPodAddressing({ ifname: 'eth0', ips: a.ips, routes: a.podRoutes, dad: 'off' });
    expect(pod.ops.map(toLine)).toEqual([
      'addr add 10.244.0.5/32 dev eth0',
      'addr add fd00:10:244::5/128 dev eth0 nodad',
      'link set eth0 up',
      'route add 169.254.1.1/32 dev eth0 scope 253',
      'route add 0.0.0.0/0 via 169.254.1.1 dev eth0',
      'route add ::/0 via fe80::ecee:eeff:feee:eeee dev eth0',
    ]);
    expect(a.podGatewayOps.map(toLine)).toEqual([]);
  });
  it('defaults to a default route per family present; IPAM routes of other families are dropped', () => {
    const v4: Result = { cniVersion: '1.1.0', ips: [{ address: '10.0.0.7/24', gateway: '10.0.0.1' }] };
    expect(planPtpAddressing('routed', 'eth0', v4).routes).toEqual([{ dst: '0.0.0.0/0', gw: '169.254.1.1' }]);
    const withRoutes = { ...v4, routes: [{ dst: '10.96.0.0/12', gw: '10.0.0.254' }, { dst: '::/0' }] };
    expect(planPtpAddressing('routed', 'eth0', withRoutes).routes).toEqual([{ dst: '10.96.0.0/12', gw: '169.254.1.1' }]);
    const v6: Result = { cniVersion: '1.1.0', ips: [{ address: 'fd00::7/64' }] };
    expect(planPtpAddressing('routed', 'eth0', v6).podRoutes).toEqual([{ dst: '::/0', gw: 'fe80::ecee:eeff:feee:eeee' }]);
  });
  it('host routes are scope link, no address on the host veth', () => {
    expect(planHostLink('ptpabc', a).map(toLine)).toEqual([
      'link set ptpabc up',
      'addr replace fe80::ecee:eeff:feee:eeee/64 dev ptpabc nodad',
    ]);
    const v4 = planPtpAddressing('routed', 'eth0', { cniVersion: '1.1.0', ips: [{ address: '10.0.0.7/24' }] });
    expect(planHostLink('ptpabc', v4).map(toLine)).toEqual(['link set ptpabc up']);
    expect(planHostRoutes('ptpabc', a, [], []).map(toLine)).toEqual([
      'route add 10.244.0.5/32 dev ptpabc scope link',
      'route add fd00:10:244::5/128 dev ptpabc',
    ]);
  });
  it('host veth sysctls: proxy ARP, no proxy delay, forwarding; v6 proxy_ndp and no DAD', () => {
    expect(hostVethSysctls('routed', 'ptpabc', [4, 6]).sysctls).toEqual({
      'net/ipv6/conf/ptpabc/accept_ra': '0',
      'net/ipv6/conf/ptpabc/accept_dad': '0',
      'net/ipv4/conf/ptpabc/proxy_arp': '1',
      'net/ipv4/neigh/ptpabc/proxy_delay': '0',
      'net/ipv4/conf/ptpabc/forwarding': '1',
      'net/ipv6/conf/ptpabc/disable_ipv6': '0',
      'net/ipv6/conf/ptpabc/proxy_ndp': '1',
      'net/ipv6/conf/ptpabc/forwarding': '1',
    });
    const v4only = hostVethSysctls('routed', 'ptpabc', [4]);
    expect(v4only.optional).toContain('net/ipv6/conf/ptpabc/accept_dad');
    expect(v4only.sysctls['net/ipv6/conf/ptpabc/proxy_ndp']).toBeUndefined();
    expect(hostVethSysctls('reference', 'vethx', [4]).sysctls['net/ipv4/conf/vethx/proxy_arp']).toBeUndefined();
    expect(globalForwardingSysctls([4, 6])).toEqual({ 'net/ipv4/ip_forward': '1', 'net/ipv6/conf/all/forwarding': '1' });
  });
});

describe('host route conflicts', () => {
  const a = planPtpAddressing('routed', 'eth0', { cniVersion: '1.1.0', ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }] });
  const links = (flags: string[]): LinkInfo[] => [{ ifindex: 9, ifname: 'other', flags }];
  const existing: RouteInfo[] = [
    { dst: '10.1.0.5', dev: 'other', scope: 'link' },
    { dst: '10.1.0.0/24', dev: 'up0' },
    { dst: '10.1.0.5', dev: 'lo', table: 'local', type: 'local' },
  ];
  it('finds only main-table routes to exactly that destination', () => {
    expect(routesTo(existing, '10.1.0.5/32')).toEqual([existing[0]]);
  });
  it('a route via another live interface is an error naming it', () => {
    const e = errorOf(() => planHostRoutes('ptpabc', a, existing, links(['BROADCAST', 'UP', 'LOWER_UP'])));
    expect(e.code).toBe(ErrorCode.RouteConflict);
    expect(e.message).toContain('"other"');
  });
  it('a route via a downed, carrier-less or vanished interface is replaced', () => {
    expect(planHostRoutes('ptpabc', a, existing, links(['BROADCAST'])).map(toLine)).toEqual([
      'route replace 10.1.0.5/32 dev ptpabc scope link',
    ]);
    expect(planHostRoutes('ptpabc', a, existing, links(['NO-CARRIER', 'BROADCAST', 'UP'])).map(toLine)).toEqual([
      'route replace 10.1.0.5/32 dev ptpabc scope link',
    ]);
    expect(planHostRoutes('ptpabc', a, existing, []).map(toLine)).toEqual(['route replace 10.1.0.5/32 dev ptpabc scope link']);
  });
  it('only the devices of routes already leading to our destinations are looked up', () => {
    expect(devicesInTheWay('ptpabc', a, existing)).toEqual(['other']);
    expect(devicesInTheWay('other', a, existing)).toEqual([]); // our own veth is never in the way
    expect(devicesInTheWay('ptpabc', a, [])).toEqual([]);
  });
  it('queries the main-table routes to each pod address, not the whole table', () => {
    expect(hostRouteQueries(planPtpAddressing('reference', 'eth0', dual)).map(queryArgs)).toEqual([
      ['-4', 'route', 'show', 'table', 'main', 'exact', '10.244.0.5/32'],
      ['-6', 'route', 'show', 'table', 'main', 'exact', 'fd00:10:244::5/128'],
    ]);
    expect(hostRouteQueries(a).map(queryArgs)).toEqual([['-4', 'route', 'show', 'table', 'main', 'exact', '10.1.0.5/32']]);
  });
  it('a blackhole route is a conflict', () => {
    const bh: RouteInfo[] = [{ dst: '10.1.0.5', type: 'blackhole' }];
    expect(() => planHostRoutes('ptpabc', a, bh, [])).toThrow(/blackhole/);
  });
});

describe('result and CHECK expectations', () => {
  const cfg = { raw: { name: 'n', dns: { nameservers: ['10.96.0.10'] } } } as unknown as PtpConfig;
  it('lists host veth then container interface, DNS from config over IPAM', () => {
    const a = planPtpAddressing('routed', 'eth0', dual);
    const r = buildPtpResult({
      cfg,
      hostVeth: 'ptpabc',
      hostMac: 'ee:ee:ee:ee:ee:ee',
      ifname: 'eth0',
      containerMac: '02:00:00:00:00:01',
      netns: '/run/netns/p',
      addressing: a,
      ipamDns: { nameservers: ['1.1.1.1'] },
    });
    expect(r.interfaces).toEqual([
      { name: 'ptpabc', mac: 'ee:ee:ee:ee:ee:ee' },
      { name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/p' },
    ]);
    expect(r.dns).toEqual({ nameservers: ['10.96.0.10'] });
    expect(r.ips?.every((ip) => ip.interface === 1)).toBe(true);
  });
  it('expects the gateway plumbing of each mode', () => {
    const ref = planPtpAddressing('reference', 'eth0', dual).ips;
    expect(expectedPodGatewayRoutes('reference', ref)).toEqual([
      { dst: '10.244.0.1/32' },
      { dst: '10.244.0.0/24', gw: '10.244.0.1' },
      { dst: 'fd00:10:244::1/128' },
      { dst: 'fd00:10:244::/64', gw: 'fd00:10:244::1' },
    ]);
    const routed = planPtpAddressing('routed', 'eth0', dual).ips;
    expect(expectedPodGatewayRoutes('routed', routed)).toEqual([{ dst: '169.254.1.1/32' }]);
    expect(expectedHostState('reference', 'vethx', ref)).toEqual({
      addresses: ['10.244.0.1/32', 'fd00:10:244::1/128'],
      routeDsts: ['10.244.0.5/32', 'fd00:10:244::5/128'],
      sysctls: { 'net/ipv4/ip_forward': '1', 'net/ipv6/conf/all/forwarding': '1' },
    });
    const host = expectedHostState('routed', 'ptpabc', routed);
    expect(host.addresses).toEqual([]);
    expect(host.sysctls).toMatchObject({
      'net/ipv4/conf/ptpabc/proxy_arp': '1',
      'net/ipv4/neigh/ptpabc/proxy_delay': '0',
      'net/ipv4/ip_forward': '1',
    });
  });
  it('recovers the masquerade subnets of routed addresses from the config ranges', () => {
    const routed = planPtpAddressing('routed', 'eth0', dual).ips;
    const raw = { ipam: { ranges: [[{ subnet: '10.244.0.0/24' }]] }, runtimeConfig: { ipRanges: [[{ subnet: 'fd00:10:244::/64' }]] } };
    expect(masqAddressesOf('routed', routed, raw)).toEqual(['10.244.0.5/24', 'fd00:10:244::5/64']);
    expect(masqAddressesOf('routed', routed, {})).toEqual(['10.244.0.5/32', 'fd00:10:244::5/128']);
    expect(masqAddressesOf('reference', [{ address: '10.244.0.5/24' }], {})).toEqual(['10.244.0.5/24']);
  });
});
