// bridge STATUS (CNI 1.1): its own module so the standalone build answers a STATUS poll without
// reading the rest of the plugin (plugins/main.ts).
import { delegate } from '../../lib/cni/delegate.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import { link } from '../../lib/kernel/iproute.ts';
import { HOST } from '../../lib/kernel/shapes.ts';
import { loadBridgeConfig } from './config.ts';

/** Not available when the bridge name is taken by something that is not a bridge, or when the IPAM says so. */
export async function status(req: Request): Promise<void> {
  const cfg = await loadBridgeConfig(req);
  const br = await link(HOST, cfg.bridge);
  if (br && br.linkinfo?.info_kind !== 'bridge') {
    throw new CniError(ErrorCode.NotAvailable, `"${cfg.bridge}" exists but is not a bridge`);
  }
  if (cfg.ipamType) await delegate('STATUS', cfg.ipamType, req);
}
