// ptp network configuration: the reference plugin's keys plus the routed (Calico-style, proxy ARP)
// mode's keys (README "ptp"), typed by the zod schema in ./schema.ts and checked by its compiled parser.

import { parse as compiledPtpConfig } from 'cni-ts:compiled/ptpConfigSchema';
import { configError, parseConfig, type Validator } from '../../lib/cni/config.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import { hexDigest } from '../../lib/platform/hash.ts';
import type { RawPtpConfig } from './schema.ts';

export type { RawPtpConfig };

/** Default prefix of routed-mode host veths; not Calico's `cali`, so both can share a node. */
export const DEFAULT_HOST_VETH_PREFIX = 'ptp';
/** At most 11 prefix characters, so at least 4 hash characters remain in a 15-byte name. */
const PREFIX_RE = /^[a-zA-Z][a-zA-Z0-9_-]{0,10}$/;

const ptpConfig: Validator<RawPtpConfig> = {
  compiled: compiledPtpConfig,
  schema: () => import('./schema.ts').then((m) => m.ptpConfigSchema),
};

export type PtpMode = 'reference' | 'routed';

export interface PtpConfig {
  raw: RawPtpConfig;
  network: string;
  mode: PtpMode;
  ipMasq: boolean;
  ipMasqBackend?: 'iptables' | 'nftables';
  mtu?: number;
  ipamType: string;
  hostVethPrefix: string;
}

export async function loadPtpConfig(req: Request): Promise<PtpConfig> {
  const raw = await parseConfig(ptpConfig, req.config);
  const ipamType = raw.ipam?.type;
  if (!ipamType) {
    throw new CniError(ErrorCode.InvalidConfig, 'invalid config key "ipam.type": ptp needs an IPAM plugin (got missing)');
  }
  const prefix = raw.hostVethPrefix ?? DEFAULT_HOST_VETH_PREFIX;
  if (!PREFIX_RE.test(prefix)) {
    throw configError('hostVethPrefix', prefix, 'must be 1-11 characters [a-zA-Z0-9_-] starting with a letter');
  }
  return {
    raw,
    network: raw.name,
    mode: raw.proxyArp ? 'routed' : 'reference',
    ipMasq: raw.ipMasq ?? false,
    ipMasqBackend: raw.ipMasqBackend,
    mtu: raw.mtu || undefined,
    ipamType,
    hostVethPrefix: prefix,
  };
}

/**
 * The routed mode's host veth name, as Calico derives it: prefix + hex sha1 of
 * "<K8S_POD_NAMESPACE>.<K8S_POD_NAME>" (of the container ID outside Kubernetes), cut to 15 bytes.
 * Stable across sandboxes of one pod, so a retry finds (and replaces) the previous one.
 */
export function routedHostVethName(prefix: string, containerID: string, cniArgs: Map<string, string>): string {
  const ns = cniArgs.get('K8S_POD_NAMESPACE');
  const pod = cniArgs.get('K8S_POD_NAME');
  const identity = ns && pod ? `${ns}.${pod}` : containerID;
  const hash = hexDigest('sha1', identity);
  return `${prefix}${hash}`.slice(0, 15);
}
