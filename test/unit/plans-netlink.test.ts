// The standalone build's fast path cannot silently fall back to spawning `ip`: the real planners
// (plugins/*/plan.ts, lib/kernel/pod-interface.ts, lib/kernel/veth.ts) are driven over a table of
// configurations — IPv4, IPv6, dual stack, routed mode, VLANs, mtu, hairpin, isolation, promisc,
// forceAddress, IPAM routes with every option, DAD — and every operation they produce must become
// a netlink request (lib/kernel/ip-ops.ts toRequest); one the encoder refuses fails this test.
// Every kind of operation must turn up somewhere in the table, so a new kind needs a row here.
import { describe, expect, it } from 'vitest';
import type { Request } from '../../lib/cni/dispatch.ts';
import type { Result } from '../../lib/cni/types.ts';
import { addressBytes } from '../../lib/kernel/address-bytes.ts';
import { type IpOp, toLine, toRequest } from '../../lib/kernel/ip-ops.ts';
import { message, splitMessages } from '../../lib/kernel/netlink-codec.ts';
import { planPodAddressing, planPodLinkUp } from '../../lib/kernel/pod-interface.ts';
import type { LinkInfo, RouteInfo } from '../../lib/kernel/shapes.ts';
import { planCreateVeth, planDeleteLink } from '../../lib/kernel/veth.ts';
import { loadBridgeConfig } from '../../plugins/bridge/config.ts';
import {
  type ExistingAddress,
  planBridgeAddressing,
  planBridgeGateway,
  planCreateBridge,
  planHostPort,
} from '../../plugins/bridge/plan.ts';
import { loadPtpConfig, routedHostVethName } from '../../plugins/ptp/config.ts';
import { planHostLink, planHostRoutes, planPtpAddressing } from '../../plugins/ptp/plan.ts';

const HOST_PID = 4242;
const CONTAINER_MAC = '02:11:22:33:44:55';
const HOST_MAC = '02:aa:bb:cc:dd:ee';

const request = (config: Record<string, unknown>, cniArgs: Record<string, string> = {}) =>
  ({
    config: { cniVersion: '1.1.0', name: 'net1', ...config },
    cniArgs: new Map(Object.entries(cniArgs)),
    env: { containerID: 'c0ffee', ifname: 'eth0', netns: '/var/run/netns/pod' },
  }) as unknown as Request;

const V4: Result = { cniVersion: '1.1.0', ips: [{ address: '10.22.0.5/16', gateway: '10.22.0.1' }], routes: [{ dst: '0.0.0.0/0' }] };
const V4_NO_GW: Result = { cniVersion: '1.1.0', ips: [{ address: '10.22.0.5/16' }] };
const V6: Result = { cniVersion: '1.1.0', ips: [{ address: 'fd00:22::5/64', gateway: 'fd00:22::1' }], routes: [{ dst: '::/0' }] };
const DUAL: Result = {
  cniVersion: '1.1.0',
  ips: [
    { address: '10.22.0.5/24', gateway: '10.22.0.1' },
    { address: 'fd00:22::5/64', gateway: 'fd00:22::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
};
/** IPAM routes with every option a result route can carry. */
const ROUTES: Result = {
  cniVersion: '1.1.0',
  ips: [{ address: '10.22.0.5/24', gateway: '10.22.0.1' }],
  routes: [
    { dst: '10.96.0.0/12', gw: '10.22.0.254', priority: 100, table: 1000, mtu: 1400, advmss: 1360 },
    { dst: '192.168.0.0/16', scope: 253 },
    { dst: '172.16.0.0/12', table: 100, priority: 5 },
  ],
};
/** Two addresses of one subnet (ptp: one gateway address; pod: shared subnet routes). */
const TWO_IN_ONE_SUBNET: Result = {
  cniVersion: '1.1.0',
  ips: [
    { address: '10.22.0.5/24', gateway: '10.22.0.1' },
    { address: '10.22.0.6/24', gateway: '10.22.0.1' },
  ],
};

interface BridgeCase {
  config: Record<string, unknown>;
  ipam?: Result;
  existing?: ExistingAddress[];
}

const BRIDGE_CASES: Record<string, BridgeCase> = {
  'IPv4, gateway on the bridge': { config: { isGateway: true }, ipam: V4 },
  'IPv4, gateway from IPAM only': { config: {}, ipam: V4 },
  'IPv4 without an IPAM gateway, default gateway': { config: { isDefaultGateway: true }, ipam: V4_NO_GW },
  'IPv6, default gateway, DAD on': { config: { isDefaultGateway: true, enabledad: true }, ipam: V6 },
  'dual stack with mtu, hairpin, isolation, a MAC': {
    config: { isGateway: true, mtu: 9000, hairpinMode: true, portIsolation: true, mac: CONTAINER_MAC },
    ipam: DUAL,
  },
  'promiscuous bridge': { config: { isGateway: true, promiscMode: true }, ipam: V4 },
  'VLAN access port': { config: { isGateway: true, vlan: 100 }, ipam: V4 },
  'VLAN trunk': { config: { vlanTrunk: [{ minID: 10, maxID: 12 }] }, ipam: V6 },
  'hairpin alone': { config: { hairpinMode: true }, ipam: V4 },
  'forceAddress replaces a different gateway address': {
    config: { isGateway: true, forceAddress: true },
    ipam: DUAL,
    existing: [
      { family: 4, cidr: '10.99.0.1/24' },
      { family: 6, cidr: 'fd00:22::99/64' },
    ],
  },
  'IPAM routes with metric, table, scope, mtu, advmss': { config: { isGateway: true }, ipam: ROUTES },
  'two addresses of one subnet': { config: { isGateway: true }, ipam: TWO_IN_ONE_SUBNET },
  'no IPAM: the container interface is only brought up': { config: {} },
};

async function bridgeOps(c: BridgeCase): Promise<IpOp[]> {
  const cfg = await loadBridgeConfig(request({ type: 'bridge', bridge: 'cni0', ...c.config }));
  const hostVeth = 'veth0a1b2c3d';
  const ops: IpOp[] = [
    planCreateBridge(cfg, '02:00:00:00:00:0b'),
    planCreateVeth(
      { ifname: 'eth0', hostName: hostVeth, hostMac: HOST_MAC, containerMac: cfg.mac ?? CONTAINER_MAC, mtu: cfg.mtu },
      HOST_PID,
    ),
    ...planHostPort(cfg, hostVeth),
  ];
  if (!c.ipam) return [...ops, ...planPodLinkUp('eth0'), planDeleteLink('eth0')];
  const addressing = planBridgeAddressing(cfg, c.ipam);
  if (cfg.isGateway) ops.push(...planBridgeGateway(cfg, addressing, { mac: '02:00:00:00:00:0b', addresses: c.existing ?? [] }));
  const pod = planPodAddressing({
    ifname: 'eth0',
    ips: addressing.ips,
    routes: addressing.routes,
    dad: cfg.enabledad ? 'enhanced' : 'off',
  });
  return [...ops, ...pod.ops, planDeleteLink('eth0')];
}

interface PtpCase {
  config: Record<string, unknown>;
  ipam: Result;
  /** Host routes already there (replaced when stale). */
  routes?: RouteInfo[];
  links?: LinkInfo[];
}

const PTP_CASES: Record<string, PtpCase> = {
  'reference IPv4': { config: {}, ipam: V4 },
  'reference IPv6 with mtu': { config: { mtu: 1400 }, ipam: V6 },
  'reference dual stack': { config: {}, ipam: DUAL },
  'reference, two addresses of one subnet': { config: {}, ipam: TWO_IN_ONE_SUBNET },
  'reference, IPAM routes with every option': { config: {}, ipam: ROUTES },
  'reference, a stale host route replaced': {
    config: {},
    ipam: V4,
    routes: [{ dst: '10.22.0.5', dev: 'vethdead', scope: 'host' }],
    links: [{ ifindex: 9, ifname: 'vethdead', flags: ['BROADCAST'] }],
  },
  'routed IPv4': { config: { proxyArp: true }, ipam: V4 },
  'routed IPv6': { config: { proxyArp: true }, ipam: V6 },
  'routed dual stack with mtu': { config: { proxyArp: true, mtu: 1450 }, ipam: DUAL },
  'routed, IPAM routes': { config: { proxyArp: true }, ipam: ROUTES },
};

async function ptpOps(c: PtpCase): Promise<IpOp[]> {
  const req = request({ type: 'ptp', ipam: { type: 'host-local' }, ...c.config });
  const cfg = await loadPtpConfig(req);
  const hostVeth = cfg.mode === 'routed' ? routedHostVethName(cfg.hostVethPrefix, 'c0ffee', req.cniArgs) : 'veth0a1b2c3d';
  const addressing = planPtpAddressing(cfg.mode, 'eth0', c.ipam);
  const pod = planPodAddressing({ ifname: 'eth0', ips: addressing.ips, routes: addressing.podRoutes, dad: 'off' });
  return [
    planCreateVeth({ ifname: 'eth0', hostName: hostVeth, hostMac: HOST_MAC, containerMac: CONTAINER_MAC, mtu: cfg.mtu }, HOST_PID),
    ...planHostLink(hostVeth, addressing),
    ...planHostRoutes(hostVeth, addressing, c.routes ?? [], c.links ?? []),
    ...pod.ops,
    ...addressing.podGatewayOps,
    planDeleteLink(hostVeth),
  ];
}

/** Device indexes, as the standalone looks them up when a request is built. */
const ifindex = (name: string): number => 1 + [...name].reduce((n, ch) => (n * 31 + ch.charCodeAt(0)) % 1000, 0);

/** The operation as the standalone sends it: encoded, framed, and split back off the wire. */
function sendable(op: IpOp): void {
  const req = toRequest(op, addressBytes)(ifindex);
  const [m, ...rest] = splitMessages(message(req.type, req.flags, 1, req.fixed, req.attrs));
  expect(rest).toEqual([]);
  expect(m!.type).toBe(req.type);
}

const seen = new Map<IpOp['kind'], string>();
const record = (ops: IpOp[]): IpOp[] => {
  for (const op of ops) if (!seen.has(op.kind)) seen.set(op.kind, toLine(op));
  return ops;
};

describe.each(Object.entries(BRIDGE_CASES))('bridge: %s', (_, c) => {
  it('every operation has a netlink request', async () => {
    for (const op of record(await bridgeOps(c))) expect(() => sendable(op), toLine(op)).not.toThrow();
  });
});

describe.each(Object.entries(PTP_CASES))('ptp: %s', (_, c) => {
  it('every operation has a netlink request', async () => {
    for (const op of record(await ptpOps(c))) expect(() => sendable(op), toLine(op)).not.toThrow();
  });
});

describe('the table', () => {
  // A Record over the union's kinds: adding a kind to IpOp fails to compile until it is listed here.
  const KINDS: Record<IpOp['kind'], true> = {
    'bridge-add': true,
    'veth-add': true,
    'link-set': true,
    'bridge-port': true,
    'link-del': true,
    addr: true,
    route: true,
  };
  it('produces every kind of operation', async () => {
    for (const c of Object.values(BRIDGE_CASES)) record(await bridgeOps(c));
    for (const c of Object.values(PTP_CASES)) record(await ptpOps(c));
    expect([...seen.keys()].sort()).toEqual(Object.keys(KINDS).sort());
  });

  it('produces every verb of addresses and routes, and routes with every option', async () => {
    const all = [
      ...(await Promise.all(Object.values(BRIDGE_CASES).map(bridgeOps))).flat(),
      ...(await Promise.all(Object.values(PTP_CASES).map(ptpOps))).flat(),
    ];
    const lines = all.map(toLine);
    for (const form of ['addr add', 'addr replace', 'addr del', 'route add', 'route replace', 'route del']) {
      expect(
        lines.some((l) => l.startsWith(`${form} `)),
        form,
      ).toBe(true);
    }
    for (const word of [' via ', ' metric ', ' table ', ' scope ', ' src ', ' mtu ', ' advmss ', ' brd + ', ' nodad', ' vlan_filtering ']) {
      expect(
        lines.some((l) => l.includes(word)),
        word,
      ).toBe(true);
    }
  });
});
