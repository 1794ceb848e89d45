// ptp DEL: a module of its own, so the standalone build's DEL reads neither the ADD/CHECK code
// nor the address arithmetic (lib/net/address.ts, ip-num) those need (plugins/main.ts).
import { prevResultOf } from '../../lib/cni/attachments.ts';
import { delegate } from '../../lib/cni/delegate.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import type { Result } from '../../lib/cni/types.ts';
import { loadMasquerade as masquerade } from '../../lib/firewall/load.ts';
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
  const [{ hostCidr, routesTo }, { parseCidr }] = await Promise.all([import('./plan.ts'), import('../../lib/net/address.ts')]);
  const all = await routes(HOST, { table: 'all' });
  return (prev?.ips ?? []).some((ip) => parseCidr(ip.address) && routesTo(all, hostCidr(ip.address)).some((r) => r.dev === veth.ifname));
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
    // Released only once the interface (and its host route) is gone, so a new pod given this
    // address never finds the old host route in its way.
    [
      'IPAM',
      async () => {
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
  ]);
}
