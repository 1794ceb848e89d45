// portmap STATUS (CNI 1.1): its own module so the standalone build answers a STATUS poll without
// reading the rest of the plugin (plugins/main.ts).
import type { Request } from '../../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import { findExecutable } from '../../lib/firewall/backend.ts';
import { parseRawPortmapConfig } from './raw-config.ts';

const TOOLS = { iptables: ['iptables-save', 'iptables-restore'], nftables: ['nft'] } as const;

/** Not available when the firewall tools of the configured backend (or of both, when it is chosen on the host) are missing. */
export async function status(req: Request): Promise<void> {
  const raw = await parseRawPortmapConfig(req.config);
  const backends = raw.backend ? [raw.backend] : (['iptables', 'nftables'] as const);
  const usable = backends.some((b) => TOOLS[b].every((t) => findExecutable(t)));
  if (!usable) {
    throw new CniError(
      ErrorCode.NotAvailable,
      `no usable firewall backend: need ${backends.map((b) => TOOLS[b].join(' and ')).join(', or ')}`,
    );
  }
}
