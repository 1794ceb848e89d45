// ptp DEL: a module of its own, so the standalone build's DEL reads neither the ADD/CHECK code
// nor the address arithmetic (lib/net/address.ts, ip-num) those need (plugins/main.ts).
import { prevResultOf } from '../../lib/cni/attachments.ts';
import { releaseAfter } from '../../lib/cni/delegate.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import type { Result } from '../../lib/cni/types.ts';
import { teardownMasqueradeOf } from '../../lib/firewall/load.ts';
import { routes } from '../../lib/kernel/iproute.ts';
import { HOST, type LinkInfo } from '../../lib/kernel/shapes.ts';
import { deleteContainerVeth, deleteOrphanHostVeth } from '../../lib/kernel/veth.ts';
import { afterQueuedJobs, settleThenThrowJoined } from '../../lib/platform/steps.ts';
import { loadPtpConfig } from './config.ts';

/**
 * Reference mode, pod namespace gone from its path: the host veth named in prevResult is this
 * attachment's (its name is random and unique to it) when it routes one of the attachment's
 * addresses. (Routed-mode names are reused by the pod's next sandbox: never deleted by name.)
 */
async function routesOurAddresses(prev: Result | undefined, veth: LinkInfo): Promise<boolean> {
  // Address arithmetic for this rare path only; DEL's prevResult addresses are unchecked until here.
  const [{ hostCidr, routesTo }, { familyOfAddress, parseCidr }] = await Promise.all([
    import('./plan.ts'),
    import('../../lib/net/address.ts'),
  ]);
  // The routes to each address's host prefix, not every table of the node (a route per pod).
  for (const ip of prev?.ips ?? []) {
    if (!parseCidr(ip.address)) continue;
    const dst = hostCidr(ip.address);
    const found = await routes(HOST, { family: familyOfAddress(dst)!, table: 'main', dst });
    if (routesTo(found, dst).some((r) => r.dev === veth.ifname)) return true;
  }
  return false;
}

export async function del(req: Request): Promise<void> {
  const cfg = await loadPtpConfig(req);
  const { netns, ifname } = req.env;
  const prev = await prevResultOf(req, { lenient: true });
  // The host veth, its routes and (reference mode) its gateway addresses go with the pair.
  // Firewall steps first, the interface once they have started (see afterQueuedJobs).
  const removeInterface = (async () => {
    await afterQueuedJobs();
    if (req.netnsState === 'ok') await deleteContainerVeth(netns, ifname);
    else if (cfg.mode === 'reference') await deleteOrphanHostVeth(prev, [ifname], (veth) => routesOurAddresses(prev, veth));
  })();
  await settleThenThrowJoined([
    ['container interface', () => removeInterface],
    ['IPAM', () => releaseAfter(removeInterface, cfg.ipamType, req)],
    ['masquerade', async () => cfg.ipMasq && (await teardownMasqueradeOf(req, cfg.network))],
  ]);
}
