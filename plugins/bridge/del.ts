// bridge DEL: a module of its own, so the standalone build's DEL reads neither the ADD/CHECK code
// nor the address arithmetic (lib/net/address.ts, ip-num) those need (plugins/main.ts).
import { prevResultOf, runAll } from '../../lib/cni/attachments.ts';
import { delegate } from '../../lib/cni/delegate.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import type { Result } from '../../lib/cni/types.ts';
import { loadMasquerade as masquerade, loadSpoofCheck as spoofcheck } from '../../lib/firewall/load.ts';
import { HOST, ipBatch, ipJson, type LinkInfo } from '../../lib/kernel/iproute.ts';
import { deleteContainerVeth } from '../../lib/kernel/veth.ts';
import { type BridgeConfig, loadBridgeConfig } from './config.ts';

/** When the pod namespace is gone from its path, the host veth of prevResult may still exist. */
async function deleteOrphanHostVeth(cfg: BridgeConfig, prev: Result | undefined, ifname: string): Promise<void> {
  const host = prev?.interfaces?.find((i) => !i.sandbox && i.name !== cfg.bridge && i.name !== ifname);
  if (!host) return;
  const [link] = await ipJson<LinkInfo>(HOST, ['-details', 'link', 'show', 'dev', host.name]);
  if (link?.linkinfo?.info_kind === 'veth' && link.master === cfg.bridge) {
    await ipBatch(HOST, [`link del ${host.name}`]).catch(() => undefined);
  }
}

export async function del(req: Request): Promise<void> {
  const cfg = await loadBridgeConfig(req);
  const { netns, ifname, containerID } = req.env;
  const prev = await prevResultOf(req, { lenient: true });
  const removeInterface = req.netnsState === 'ok' ? deleteContainerVeth(netns, ifname) : deleteOrphanHostVeth(cfg, prev, ifname);
  await runAll([
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
