// bridge DEL: a module of its own, so the standalone build's DEL reads neither the ADD/CHECK code
// nor the address arithmetic (lib/net/address.ts, ip-num) those need (plugins/main.ts).
import { prevResultOf } from '../../lib/cni/attachments.ts';
import { delegate } from '../../lib/cni/delegate.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import { loadMasquerade as masquerade, loadSpoofCheck as spoofcheck } from '../../lib/firewall/load.ts';
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
    // The address is released only once its interface is gone (whatever that step's outcome).
    [
      'IPAM',
      async () => {
        if (!cfg.ipamType) return;
        await removeInterface.catch(() => undefined);
        await delegate('DEL', cfg.ipamType, req);
      },
    ],
    // Found by (network, container ID, ifname), never by reading addresses off the interface.
    [
      'masquerade',
      async () => {
        if (!cfg.ipMasq) return;
        const { masqTarget, teardownMasquerade } = await masquerade();
        await teardownMasquerade(
          masqTarget(
            req,
            cfg.network,
            (prev?.ips ?? []).map((i) => i.address),
          ),
        );
      },
    ],
    ['spoof check', async () => cfg.macspoofchk && (await spoofcheck()).teardownSpoofCheck(containerID, ifname)],
  ]);
}
