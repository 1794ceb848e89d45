// The bridge plugin: a Linux bridge on the host, a veth pair per attachment, addresses from IPAM.
// Order of ADD: IPAM → bridge → veth → host port → pod addressing → masquerade → spoof check;
// each step registers its inverse so a failure leaves nothing behind.
import { prevResultOf, validAttachmentsOf } from '../../lib/cni/attachments.ts';
import { delegate } from '../../lib/cni/delegate.ts';
import type { Plugin, Request } from '../../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import type { Result } from '../../lib/cni/types.ts';
import { checkMasqueradeOf, loadMasquerade, loadSpoofCheck, setupMasqueradeOf } from '../../lib/firewall/load.ts';
import { BatchError, ipBatch, link, links, query } from '../../lib/kernel/iproute.ts';
import {
  checkFailed,
  expectAddresses,
  expectHostPeer,
  expectMac,
  expectPodVeth,
  expectRoutes,
  findLink,
} from '../../lib/kernel/kernel-check.ts';
import { defaultGateways, planPodAddressing, planPodLinkUp } from '../../lib/kernel/pod-interface.ts';
import { HOST, type LinkInfo } from '../../lib/kernel/shapes.ts';
import { writeSysctls } from '../../lib/kernel/sysctl.ts';
import { createVeth, deleteContainerVeth } from '../../lib/kernel/veth.ts';
import { randomMac } from '../../lib/net/mac.ts';
import { run } from '../../lib/platform/exec.ts';
import { settleThenThrowFirst, settleThenThrowJoined, UndoStack } from '../../lib/platform/steps.ts';
import { type BridgeConfig, loadBridgeConfig } from './config.ts';
import { del } from './del.ts';
import {
  buildBridgeResult,
  type ExistingAddress,
  forwardingSysctls,
  planBridgeAddressing,
  planBridgeGateway,
  planCreateBridge,
  planHostPort,
  planPortVlans,
} from './plan.ts';
import { status } from './status.ts';

const masquerade = loadMasquerade;
const spoofcheck = loadSpoofCheck;

interface BridgeState {
  mac: string;
  addresses: ExistingAddress[];
}

async function readBridge(cfg: BridgeConfig): Promise<(BridgeState & { link: LinkInfo }) | undefined> {
  const br = await link(HOST, cfg.bridge, { addresses: true });
  if (!br) return undefined;
  if (br.linkinfo?.info_kind !== 'bridge') {
    throw new CniError(ErrorCode.InterfaceConflict, `"${cfg.bridge}" already exists but is not a bridge`);
  }
  const addresses = (br.addr_info ?? [])
    .filter((a) => (a.family === 'inet' || a.family === 'inet6') && a.scope !== 'link')
    .map((a) => ({ family: a.family === 'inet' ? 4 : 6, cidr: `${a.local}/${a.prefixlen}` }) as ExistingAddress);
  return { link: br, mac: br.address ?? '', addresses };
}

/** The bridge, created when missing (never deleted: other attachments may use it). */
async function ensureBridge(cfg: BridgeConfig): Promise<BridgeState> {
  const existing = await readBridge(cfg);
  if (existing) return existing;
  // A fixed MAC keeps the bridge from following its lowest port's MAC as ports come and go.
  const mac = randomMac();
  try {
    await ipBatch(HOST, [planCreateBridge(cfg, mac)]);
  } catch (e) {
    // Another ADD created it concurrently: use theirs.
    if (e instanceof BatchError && e.exists) return (await readBridge(cfg))!;
    throw e;
  }
  await writeSysctls(HOST, { [`net/ipv6/conf/${cfg.bridge}/accept_ra`]: '0' }, { bestEffort: [`net/ipv6/conf/${cfg.bridge}/accept_ra`] });
  return { mac, addresses: [] };
}

async function runBridgeBatch(lines: string[]): Promise<void> {
  if (!lines.length) return;
  const r = await run('bridge', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
  if (r.code !== 0) throw new CniError(ErrorCode.KernelCommandFailed, `bridge vlan configuration failed: ${r.stderr.trim().slice(0, 300)}`);
}

async function add(req: Request): Promise<Result> {
  const cfg = await loadBridgeConfig(req);
  const { netns, ifname } = req.env;
  const undo = new UndoStack();
  return undo.guard(async () => {
    // IPAM first: a config it rejects must leave the kernel untouched (not even a new bridge).
    let ipam: Result | undefined;
    if (cfg.ipamType) {
      const type = cfg.ipamType;
      ipam = await delegate('ADD', type, req);
      undo.push('IPAM allocation', () => delegate('DEL', type, { ...req, command: 'DEL' }));
      if (!ipam?.ips?.length) throw new CniError(ErrorCode.DelegateFailed, 'IPAM plugin returned missing IP config');
    }
    const addressing = ipam ? planBridgeAddressing(cfg, ipam) : undefined;
    const podPlan =
      addressing && planPodAddressing({ ifname, ips: addressing.ips, routes: addressing.routes, dad: cfg.enabledad ? 'enhanced' : 'off' });

    // Independent work overlaps (each step is a process or two): the bridge is read or created
    // while the veth pair is made; the host side is wired while the pod's sysctls are set.
    const vethMade = createVeth({ netns, ifname, mtu: cfg.mtu, containerMac: cfg.mac }).then((v) => {
      undo.push('veth pair', () => deleteContainerVeth(netns, ifname));
      return v;
    });
    const bridgeReady = ensureBridge(cfg);
    await settleThenThrowFirst([vethMade, bridgeReady]);
    const veth = await vethMade;
    const bridge = await bridgeReady;

    const hostSide = async () => {
      await writeSysctls(
        HOST,
        { [`net/ipv6/conf/${veth.hostName}/accept_ra`]: '0' },
        { bestEffort: [`net/ipv6/conf/${veth.hostName}/accept_ra`] },
      );
      const hostOps = planHostPort(cfg, veth.hostName);
      if (addressing && cfg.isGateway) hostOps.push(...planBridgeGateway(cfg, addressing, bridge));
      await ipBatch(HOST, hostOps);
      await runBridgeBatch(planPortVlans(cfg, veth.hostName));
      if (addressing && cfg.isGateway) await writeSysctls(HOST, forwardingSysctls(addressing.ips));
    };
    await settleThenThrowFirst([hostSide(), podPlan && writeSysctls({ netns }, podPlan.sysctls, { bestEffort: podPlan.optionalSysctls })]);

    // The pod's addresses and routes (once its peer is up on the bridge), the masquerade rules and
    // the spoof check touch disjoint state: in parallel.
    const podSide = async () => {
      if (podPlan) await ipBatch({ netns }, podPlan.ops);
      else if (!cfg.disableContainerInterface) await ipBatch({ netns }, planPodLinkUp(ifname));
    };
    const masq = () =>
      setupMasqueradeOf(
        undo,
        req,
        cfg.network,
        addressing!.ips.map((i) => i.address),
        cfg.ipMasqBackend,
      );
    const spoofCheck = async () => {
      const { setupSpoofCheck, teardownSpoofCheck } = await spoofcheck();
      undo.push('spoof check', () => teardownSpoofCheck(req.env.containerID, ifname));
      await setupSpoofCheck(req.env.containerID, ifname, veth.hostName, veth.containerMac);
    };
    await settleThenThrowFirst([podSide(), cfg.ipMasq && addressing && masq(), cfg.macspoofchk && spoofCheck()]);
    return buildBridgeResult({
      cfg,
      bridgeMac: bridge.mac,
      hostVeth: veth.hostName,
      hostMac: veth.hostMac,
      ifname,
      containerMac: veth.containerMac,
      netns,
      addressing,
      ipamDns: ipam?.dns,
    });
  });
}

async function check(req: Request): Promise<void> {
  const cfg = await loadBridgeConfig(req);
  const { netns, ifname } = req.env;
  if (cfg.ipamType) await delegate('CHECK', cfg.ipamType, req);
  const prev = (await prevResultOf(req, { required: true }))!;
  const interfaces = prev.interfaces ?? [];
  const brEntry = interfaces.find((i) => i.name === cfg.bridge);
  const podIndex = interfaces.findIndex((i) => i.name === ifname && i.sandbox === netns);
  if (!brEntry) throw checkFailed(`prevResult has no entry for bridge "${cfg.bridge}"`);
  if (podIndex < 0) throw checkFailed(`prevResult has no entry for "${ifname}" in ${netns}`);

  const hostLinks = await links(HOST);
  const br = findLink(hostLinks, cfg.bridge);
  if (br.linkinfo?.info_kind !== 'bridge') throw checkFailed(`"${cfg.bridge}" is not a bridge`);
  expectMac(br, brEntry.mac);
  const promisc = (br.flags ?? []).includes('PROMISC') || (br.promiscuity ?? 0) > 0;
  if (cfg.promiscMode && !promisc) throw checkFailed(`bridge "${cfg.bridge}" is not in promiscuous mode`);

  const [podLinks, podRoutes] = await query({ netns }, [
    { kind: 'links', addresses: true },
    { kind: 'routes', table: 'all' },
  ]);
  const pod = expectPodVeth(podLinks, ifname, interfaces[podIndex]!.mac);
  const hostVeth = expectHostPeer(hostLinks, pod, interfaces);
  if (hostVeth.master !== cfg.bridge) throw checkFailed(`host veth "${hostVeth.ifname}" is not attached to "${cfg.bridge}"`);

  const podIps = (prev.ips ?? []).filter((ip) => ip.interface === podIndex);
  expectAddresses(pod, podIps);
  expectRoutes(podRoutes, prev.routes ?? [], defaultGateways(podIps));
  if (cfg.ipMasq) {
    await checkMasqueradeOf(
      req,
      cfg.network,
      podIps.map((i) => i.address),
      cfg.ipMasqBackend,
    );
  }
  if (cfg.macspoofchk)
    await (await spoofcheck()).checkSpoofCheck(req.env.containerID, ifname, hostVeth.ifname, interfaces[podIndex]!.mac ?? '');
}

async function gc(req: Request): Promise<void> {
  const cfg = await loadBridgeConfig(req);
  const valid = validAttachmentsOf(req);
  await settleThenThrowJoined([
    ['IPAM', async () => cfg.ipamType && delegate('GC', cfg.ipamType, req)],
    ['masquerade', async () => valid && (await masquerade()).gcMasquerade(cfg.network, valid)],
    ['spoof check', async () => valid && cfg.macspoofchk && (await spoofcheck()).gcSpoofCheck(valid)],
  ]);
}

export const bridge: Plugin = { name: 'bridge', add, del, check, gc, status };
