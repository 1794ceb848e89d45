// portmap DEL: a module of its own, so a DEL reads neither the config parser nor the ADD/CHECK
// code (plugins/main.ts). Rules are found by network name and container ID alone: no netns,
// prevResult or mappings needed.
import type { Request } from '../../lib/cni/dispatch.ts';
import type { Attachment } from '../../lib/firewall/driver.ts';

export const attachmentOf = (req: Request): Attachment => ({
  network: String(req.config.name),
  containerID: req.env.containerID,
  ifname: req.env.ifname,
});

export async function del(req: Request): Promise<void> {
  await (await import('../../lib/firewall/portmap.ts')).teardownHostports(attachmentOf(req));
}
