// ptp STATUS (CNI 1.1): its own module so the standalone build answers a STATUS poll without
// reading the rest of the plugin (plugins/main.ts).
import { delegate } from '../../lib/cni/delegate.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import { loadPtpConfig } from './config.ts';

/** ptp keeps no shared state of its own: it is available when its IPAM is. */
export async function status(req: Request): Promise<void> {
  const cfg = await loadPtpConfig(req);
  await delegate('STATUS', cfg.ipamType, req);
}
