// ptp DEL: a module of its own, so the standalone build's DEL reads neither the ADD/CHECK code
// nor the address arithmetic (lib/net/address.ts, ip-num) those need (plugins/main.ts).
import { prevResultOf, runAll } from '../../lib/cni/attachments.ts';
import { delegate } from '../../lib/cni/delegate.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import type { Result } from '../../lib/cni/types.ts';
import { loadMasquerade as masquerade } from '../../lib/firewall/load.ts';
import { HOST, ipBatch, ipJsonBatch, type LinkInfo, type RouteInfo } from '../../lib/kernel/iproute.ts';
import { deleteContainerVeth } from '../../lib/kernel/veth.ts';
import { loadPtpConfig } from './config.ts';

/**
 * Reference mode, pod namespace gone from its path: the host veth named in prevResult may still
 * exist. Its name is random and unique to this attachment, so deleting it is safe once it is
 * shown to be a veth routing one of this attachment's addresses. (Routed-mode names are reused by
 * the pod's next sandbox, so they are never deleted by name.)
 */
async function deleteOrphanHostVeth(prev: Result | undefined, ifname: string): Promise<void> {
  const host = prev?.interfaces?.find((i) => !i.sandbox && i.name !== ifname);
  if (!host) return;
  const [links, routes] = (await ipJsonBatch(HOST, ['link show', 'route show table all'], true)) as [LinkInfo[], RouteInfo[]];
  const link = links.find((l) => l.ifname === host.name);
  if (link?.linkinfo?.info_kind !== 'veth') return;
  // Address arithmetic for this rare path only; DEL's prevResult addresses are unchecked until here.
  const [{ hostCidr, routesTo }, { parseCidr }] = await Promise.all([import('./plan.ts'), import('../../lib/net/address.ts')]);
  const owns = (prev?.ips ?? []).some(
    (ip) => parseCidr(ip.address) && routesTo(routes, hostCidr(ip.address)).some((r) => r.dev === host.name),
  );
  if (owns) await ipBatch(HOST, [`link del ${host.name}`]).catch(() => undefined);
}

export async function del(req: Request): Promise<void> {
  const cfg = await loadPtpConfig(req);
  const { netns, ifname } = req.env;
  const prev = await prevResultOf(req, { lenient: true });
  // The host veth, its routes and (reference mode) its gateway addresses go with the pair.
  const removeInterface = (async () => {
    if (req.netnsState === 'ok') await deleteContainerVeth(netns, ifname);
    else if (cfg.mode === 'reference') await deleteOrphanHostVeth(prev, ifname);
  })();
  await runAll([
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
