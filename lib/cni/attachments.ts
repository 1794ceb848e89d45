// Shared request helpers for interface plugins: prevResult, the result's DNS and the GC attachment list.

import { warn } from '../platform/output.ts';
import type { Request } from './dispatch.ts';
import { CniError, ErrorCode } from './errors.ts';
import { compactDns } from './result-format.ts';
import type { Attachment, DNS, Result } from './types.ts';

/** The result's DNS: the network config's `dns` replaces the IPAM's when it says anything (as in the reference). */
export const chooseDns = (configDns: DNS | undefined, ipamDns: DNS | undefined): DNS | undefined => compactDns(configDns) ?? ipamDns;

/**
 * prevResult as the internal model; undefined when absent. Invalid → error (CHECK) or, `lenient`
 * (DEL), undefined with a warning; DEL only names interfaces and rules from it, so its addresses
 * are not checked then (nor ip-num loaded).
 */
export async function prevResultOf(req: Request, opts: { required?: boolean; lenient?: boolean } = {}): Promise<Result | undefined> {
  const raw = req.config.prevResult;
  if (raw === undefined || raw === null) {
    if (opts.required) throw new CniError(ErrorCode.InvalidConfig, 'Required prevResult missing');
    return undefined;
  }
  try {
    // Loaded only when there is a prevResult to read (a DEL usually has none).
    const { parseResult } = await import('./result-parse.ts');
    return await parseResult(raw, req.version, { checkAddresses: !opts.lenient });
  } catch (e) {
    if (opts.lenient) {
      warn(`ignoring unparseable prevResult: ${(e as Error).message}\n`);
      return undefined;
    }
    throw e;
  }
}

/**
 * The attachments GC must keep: `cni.dev/valid-attachments`, falling back to the older
 * `cni.dev/attachments`. undefined when the runtime sent neither key: callers then remove
 * nothing, since "no list" (e.g. cnitool) cannot be told apart from a runtime bug.
 */
export function validAttachmentsOf(req: Request): Attachment[] | undefined {
  const raw = req.config['cni.dev/valid-attachments'] ?? req.config['cni.dev/attachments'];
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new CniError(ErrorCode.InvalidConfig, 'invalid config key "cni.dev/valid-attachments": must be a list');
  return raw.map((a, i) => {
    if (typeof a !== 'object' || a === null || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw new CniError(
        ErrorCode.InvalidConfig,
        `invalid config key "cni.dev/valid-attachments[${i}]": needs string containerID and ifname`,
      );
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}
