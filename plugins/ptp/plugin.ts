// The ptp plugin: a veth pair per attachment and routes instead of a bridge. Two modes:
//  - reference (default): the host veth carries the gateway address(es), as the Go ptp does;
//  - routed ("proxyArp": true): Calico-style, the host veth has no address and answers ARP for the
//    dummy gateway 169.254.1.1 by proxy; its name is derived from the pod identity.
// Order of ADD: IPAM → forwarding → veth → host side → pod side → masquerade; each step registers
// its inverse so a failure leaves nothing behind.
import { prevResultOf, validAttachmentsOf } from '../../lib/cni/attachments.ts';
import { delegate } from '../../lib/cni/delegate.ts';
import type { Plugin, Request } from '../../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import type { Result } from '../../lib/cni/types.ts';
import { checkMasqueradeOf, loadMasquerade, setupMasqueradeOf } from '../../lib/firewall/load.ts';
import { BatchError, ipBatch, link, query } from '../../lib/kernel/iproute.ts';
import { checkFailed, expectAddresses, expectHostPeer, expectMac, expectPodVeth, expectRoutes } from '../../lib/kernel/kernel-check.ts';
import { defaultGateways, planPodAddressing } from '../../lib/kernel/pod-interface.ts';
import { HOST } from '../../lib/kernel/shapes.ts';
import { readHostSysctl, writeSysctls } from '../../lib/kernel/sysctl.ts';
import { createVeth, deleteContainerVeth, planDeleteLink } from '../../lib/kernel/veth.ts';
import { warn } from '../../lib/platform/output.ts';
import { settleThenThrowFirst, settleThenThrowJoined, UndoStack } from '../../lib/platform/steps.ts';
import { loadPtpConfig, routedHostVethName } from './config.ts';
import { del } from './del.ts';
import {
  buildPtpResult,
  devicesInTheWay,
  expectedHostState,
  expectedPodGatewayRoutes,
  familiesOf,
  globalForwardingSysctls,
  hostRouteQueries,
  hostVethSysctls,
  masqAddressesOf,
  planHostLink,
  planHostRoutes,
  planPtpAddressing,
  ROUTED_HOST_MAC,
  routesTo,
} from './plan.ts';
import { status } from './status.ts';

const masquerade = loadMasquerade;

/**
 * Routed mode: a host veth with our deterministic name is left over from an earlier sandbox of
 * the same pod (its DEL never came, or came after this ADD); replace it, as Calico does.
 */
async function removeStaleHostVeth(name: string): Promise<void> {
  const stale = await link(HOST, name);
  if (!stale) return;
  if (stale.linkinfo?.info_kind !== 'veth') {
    throw new CniError(ErrorCode.InterfaceConflict, `host interface "${name}" exists and is not a veth`);
  }
  warn(`ptp: replacing stale host veth "${name}" of an earlier sandbox\n`);
  await ipBatch(HOST, [planDeleteLink(name)]).catch((e) => {
    if (!(e instanceof BatchError && e.missing)) throw e; // deleted concurrently (its namespace went away): fine
  });
}

async function add(req: Request): Promise<Result> {
  const cfg = await loadPtpConfig(req);
  const { netns, ifname, containerID } = req.env;
  const routed = cfg.mode === 'routed';
  const undo = new UndoStack();
  return undo.guard(async () => {
    const ipam = await delegate('ADD', cfg.ipamType, req);
    undo.push('IPAM allocation', () => delegate('DEL', cfg.ipamType, { ...req, command: 'DEL' }));
    const addressing = planPtpAddressing(cfg.mode, ifname, ipam ?? { cniVersion: '1.1.0' });
    const families = familiesOf(addressing.ips);
    // Never turned off again (other attachments rely on it), as in the reference.
    await writeSysctls(HOST, globalForwardingSysctls(families));

    const hostName = routed ? routedHostVethName(cfg.hostVethPrefix, containerID, req.cniArgs) : undefined;
    if (hostName) await removeStaleHostVeth(hostName);
    const veth = await createVeth({ netns, ifname, mtu: cfg.mtu, hostName, hostMac: routed ? ROUTED_HOST_MAC : undefined });
    undo.push('veth pair', () => deleteContainerVeth(netns, ifname));

    // Independent work overlaps (each step is a process or two), as in bridge: the host side is
    // wired while the pod's sysctls are set; the masquerade rules go in with the pod's addresses.
    const pod = planPodAddressing({ ifname, ips: addressing.ips, routes: addressing.podRoutes, dad: 'off' });
    const hostSide = async () => {
      const hostSysctls = hostVethSysctls(cfg.mode, veth.hostName, families);
      await writeSysctls(HOST, hostSysctls.sysctls, { bestEffort: hostSysctls.optional });
      const hostRoutes = (await query(HOST, hostRouteQueries(addressing))).flat();
      const devs = devicesInTheWay(veth.hostName, addressing, hostRoutes);
      const inTheWay = (await Promise.all(devs.map((dev) => link(HOST, dev)))).filter((l) => l !== undefined);
      await ipBatch(HOST, [...planHostLink(veth.hostName, addressing), ...planHostRoutes(veth.hostName, addressing, hostRoutes, inTheWay)]);
    };
    await settleThenThrowFirst([hostSide(), writeSysctls({ netns }, pod.sysctls, { bestEffort: pod.optionalSysctls })]);

    const masq = () => setupMasqueradeOf(undo, req, cfg.network, addressing.masqAddresses, cfg.ipMasqBackend);
    await settleThenThrowFirst([ipBatch({ netns }, [...pod.ops, ...addressing.podGatewayOps]), cfg.ipMasq && masq()]);
    return buildPtpResult({
      cfg,
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
  const cfg = await loadPtpConfig(req);
  const { netns, ifname } = req.env;
  await delegate('CHECK', cfg.ipamType, req);
  const prev = (await prevResultOf(req, { required: true }))!;
  const interfaces = prev.interfaces ?? [];
  const podIndex = interfaces.findIndex((i) => i.name === ifname && i.sandbox === netns);
  if (podIndex < 0) throw checkFailed(`prevResult has no entry for "${ifname}" in ${netns}`);
  const podIps = (prev.ips ?? []).filter((ip) => ip.interface === podIndex);

  // Container side.
  const [podLinks, podRoutes] = await query({ netns }, [
    { kind: 'links', addresses: true },
    { kind: 'routes', table: 'all' },
  ]);
  const pod = expectPodVeth(podLinks, ifname, interfaces[podIndex]!.mac);
  expectAddresses(pod, podIps);
  // The gateway plumbing carries its own next hops (none for the on-link ones): no fallback gateway.
  expectRoutes(podRoutes, expectedPodGatewayRoutes(cfg.mode, podIps));
  expectRoutes(podRoutes, prev.routes ?? [], defaultGateways(podIps));

  // Host side: the peer, its addresses, the routes back to the pod, the routed mode's sysctls.
  const [hostLinks, hostRoutes] = await query(HOST, [
    { kind: 'links', addresses: true },
    { kind: 'routes', table: 'all' },
  ]);
  const host = expectHostPeer(hostLinks, pod, interfaces);
  const hostEntry = interfaces.find((i) => i.name === host.ifname)!;
  expectMac(host, hostEntry.mac);
  if (!(host.flags ?? []).includes('UP')) throw checkFailed(`host veth "${host.ifname}" is down`);
  const want = expectedHostState(cfg.mode, host.ifname, podIps);
  expectAddresses(
    host,
    want.addresses.map((address) => ({ address })),
  );
  if (cfg.mode === 'routed') {
    const global = (host.addr_info ?? []).filter((a) => a.scope !== 'link');
    if (global.length) throw checkFailed(`host veth "${host.ifname}" has address ${global[0]!.local}; the routed mode gives it none`);
  }
  for (const dst of want.routeDsts) {
    if (!routesTo(hostRoutes, dst).some((r) => r.dev === host.ifname)) throw checkFailed(`host route ${dst} dev ${host.ifname} not found`);
  }
  for (const [key, value] of Object.entries(want.sysctls)) {
    const have = readHostSysctl(key);
    if (have !== value) throw checkFailed(`sysctl ${key.replace(/\//g, '.')} is ${have ?? 'missing'}, expected ${value}`);
  }
  if (cfg.ipMasq) {
    await checkMasqueradeOf(req, cfg.network, masqAddressesOf(cfg.mode, podIps, cfg.raw), cfg.ipMasqBackend);
  }
}

async function gc(req: Request): Promise<void> {
  const cfg = await loadPtpConfig(req);
  const valid = validAttachmentsOf(req);
  await settleThenThrowJoined([
    ['IPAM', () => delegate('GC', cfg.ipamType, req)],
    ['masquerade', async () => valid && (await masquerade()).gcMasquerade(cfg.network, valid)],
  ]);
}

export const ptp: Plugin = { name: 'ptp', add, del, check, gc, status };
