// Which firewall backend a feature uses when the config does not say (`ipMasqBackend`, portmap's
// `backend`): the reference plugins' rule, decided without spawning a process where possible.

import { run } from '../platform/exec.ts';
import { accessSync, constants, realpathSync } from '../platform/fs.ts';
import { join } from '../platform/path.ts';
import type { FirewallBackend } from './driver.ts';

/** The executable `name` would run as, found on PATH without spawning anything. */
export function findExecutable(name: string, path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): string | undefined {
  for (const dir of path.split(':')) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Whether a resolved iptables path is the nf_tables one (xtables-nft-multi), by its file name. */
const isNftMulti = (resolved: string): boolean => /nft/.test(resolved.slice(resolved.lastIndexOf('/') + 1));

export interface BackendFacts {
  /** Resolved path of `iptables`, if installed. */
  iptables?: string;
  nft: boolean;
}

/**
 * The reference rule: an explicit backend wins; otherwise iptables, unless iptables is unusable and
 * nftables is available. Returns the backend, or 'probe' when only running iptables can tell (a
 * legacy iptables next to nft: its kernel side may be missing). iptables-nft talks to the same
 * nf_tables as nft, so it is usable whenever nft would be.
 */
export function decideBackend(requested: FirewallBackend | undefined, facts: BackendFacts): FirewallBackend | 'probe' {
  if (requested) return requested;
  if (!facts.iptables) return facts.nft ? 'nftables' : 'iptables';
  if (!facts.nft || isNftMulti(facts.iptables)) return 'iptables';
  return 'probe';
}

function hostFacts(): BackendFacts {
  const ipt = findExecutable('iptables');
  let resolved: string | undefined;
  if (ipt) {
    try {
      resolved = realpathSync(ipt); // e.g. /usr/sbin/xtables-nft-multi vs xtables-legacy-multi
    } catch {
      resolved = ipt;
    }
  }
  return { iptables: resolved, nft: !!findExecutable('nft') };
}

let nftBased: boolean | undefined;

/**
 * Whether this host's iptables is iptables-nft (its rules live in nf_tables, where our netlink
 * code can read and remove them) rather than the legacy x_tables one.
 */
export function iptablesIsNft(): boolean {
  nftBased ??= isNftMulti(hostFacts().iptables ?? '');
  return nftBased;
}

/** The backend for ADD/CHECK. No process is spawned except for a legacy iptables next to nft. */
export async function chooseBackend(requested?: FirewallBackend): Promise<FirewallBackend> {
  if (requested) return requested;
  const decision = decideBackend(undefined, hostFacts());
  if (decision !== 'probe') return decision;
  // The reference's probe: can iptables list a chain at all?
  const r = await run('iptables', ['-w', '-t', 'filter', '-S', 'INPUT', '1']);
  return r.code === 0 ? 'iptables' : 'nftables';
}
