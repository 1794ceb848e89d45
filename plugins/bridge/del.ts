// bridge DEL: a module of its own, so the standalone build's DEL reads neither the ADD/CHECK code
// nor the address arithmetic (lib/net/address.ts, ip-num) those need (plugins/main.ts).
import { prevResultOf } from '../../lib/cni/attachments.ts';
import { releaseAfter } from '../../lib/cni/delegate.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import { loadSpoofCheck as spoofcheck, teardownMasqueradeOf } from '../../lib/firewall/load.ts';
import { deleteContainerVeth, deleteOrphanHostVeth } from '../../lib/kernel/veth.ts';
import { afterQueuedJobs, settleThenThrowJoined } from '../../lib/platform/steps.ts';
import { loadBridgeConfig } from './config.ts';

export async function del(req: Request): Promise<void> {
  const cfg = await loadBridgeConfig(req);
  const { netns, ifname, containerID } = req.env;
  const prev = await prevResultOf(req, { lenient: true });
  // Firewall steps first, the interface once they have started (see afterQueuedJobs). Pod namespace
  // gone: the host veth of prevResult is this attachment's while it is a port of our bridge.
  const removeInterface = afterQueuedJobs().then(async () => {
    if (req.netnsState === 'ok') await deleteContainerVeth(netns, ifname);
    else await deleteOrphanHostVeth(prev, [cfg.bridge, ifname], (veth) => veth.master === cfg.bridge);
  });
  await settleThenThrowJoined([
    ['container interface', () => removeInterface],
    ['IPAM', () => releaseAfter(removeInterface, cfg.ipamType, req)],
    ['masquerade', async () => cfg.ipMasq && (await teardownMasqueradeOf(req, cfg.network))],
    ['spoof check', async () => cfg.macspoofchk && (await spoofcheck()).teardownSpoofCheck(containerID, ifname)],
  ]);
}
