// IP masquerade for pod addresses (`ipMasq`), with the reference's two backends behind one
// interface: iptables (lib/firewall/masquerade-iptables.ts) and nftables (lib/firewall/masquerade-nft.ts).
// Kernel state is the reference's, byte for byte, so a DEL by either implementation cleans up
// what the other made. Teardown and GC always cover both backends: an attachment may have been
// made by another version or with another `ipMasqBackend`.

import { CniError, ErrorCode } from '../cni/errors.ts';
import { run } from '../platform/exec.ts';
import { accessSync, constants, realpathSync } from '../platform/fs.ts';
import { join } from '../platform/path.ts';
import { gcIptablesMasq, missingIptablesMasq, setupIptablesMasq, teardownIptablesMasq } from './masquerade-iptables.ts';
import { gcNftMasq, missingNftMasq, setupNftMasq, teardownNftMasq } from './masquerade-nft.ts';

export type MasqBackend = 'iptables' | 'nftables';

export interface MasqTarget {
  network: string;
  containerID: string;
  ifname: string;
  /** CIDR strings like "10.1.2.3/24". */
  ips: string[];
}

/** The attachment of a request: rules are found by (network, container ID, ifname). */
export const masqTarget = (req: { env: { containerID: string; ifname: string } }, network: string, ips: string[]): MasqTarget => ({
  network,
  containerID: req.env.containerID,
  ifname: req.env.ifname,
  ips,
});

// ---------------------------------------------------------------- backend choice

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

export interface BackendFacts {
  /** Resolved path of `iptables`, if installed. */
  iptables?: string;
  nft: boolean;
}

/**
 * The reference rule: an explicit `ipMasqBackend` wins; otherwise iptables, unless iptables is
 * unusable and nftables is available. Returns the backend, or 'probe' when only running
 * iptables can tell (a legacy iptables next to nft: its kernel side may be missing).
 * iptables-nft talks to the same nf_tables as nft, so it is usable whenever nft would be.
 */
export function decideBackend(requested: MasqBackend | undefined, facts: BackendFacts): MasqBackend | 'probe' {
  if (requested) return requested;
  if (!facts.iptables) return facts.nft ? 'nftables' : 'iptables';
  if (!facts.nft || /nft/.test(facts.iptables)) return 'iptables';
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

/** The backend for ADD/CHECK. No process is spawned except for a legacy iptables next to nft. */
export async function chooseBackend(requested?: MasqBackend): Promise<MasqBackend> {
  if (requested) return requested;
  const decision = decideBackend(undefined, hostFacts());
  if (decision !== 'probe') return decision;
  // The reference's probe: can iptables list a chain at all?
  const r = await run('iptables', ['-w', '-t', 'filter', '-S', 'INPUT', '1']);
  return r.code === 0 ? 'iptables' : 'nftables';
}

// ---------------------------------------------------------------- operations

function unknownBackend(backend: string): never {
  throw new CniError(ErrorCode.InvalidConfig, `unknown ipmasq backend "${backend}"`);
}

export async function setupMasquerade(backend: MasqBackend, t: MasqTarget): Promise<void> {
  if (!t.ips.length) return;
  if (backend === 'iptables') return setupIptablesMasq(t.network, t.containerID, t.ips);
  if (backend === 'nftables') return setupNftMasq(t.network, t.ifname, t.containerID, t.ips);
  unknownBackend(backend);
}

/** Both backends, in parallel; absent rules (or an absent backend) are not an error. */
export async function teardownMasquerade(t: MasqTarget): Promise<void> {
  await settleAll('masquerade teardown', [
    teardownIptablesMasq(t.network, t.containerID),
    teardownNftMasq(t.network, t.ifname, t.containerID),
  ]);
}

export async function checkMasquerade(backend: MasqBackend, t: MasqTarget): Promise<void> {
  if (!t.ips.length) return;
  let missing: string[];
  if (backend === 'iptables') missing = await missingIptablesMasq(t.network, t.containerID, t.ips);
  else if (backend === 'nftables') missing = await missingNftMasq(t.network, t.ifname, t.containerID, t.ips);
  else unknownBackend(backend);
  if (missing.length)
    throw new CniError(ErrorCode.CheckFailed, `masquerade for ${t.containerID}/${t.ifname} incomplete: missing ${missing.join(', ')}`);
}

/** Remove every masquerade rule of `network` whose attachment is not in `valid`, in both backends. */
export async function gcMasquerade(network: string, valid: { containerID: string; ifname: string }[]): Promise<void> {
  // iptables chains are per (network, container ID): the reference ignores ifname there.
  const ids = new Set(valid.map((a) => a.containerID));
  await settleAll('masquerade GC', [gcIptablesMasq(network, ids), gcNftMasq(network, valid)]);
}

async function settleAll(what: string, work: Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed.length) return;
  if (failed.length === 1) throw failed[0]!.reason;
  throw new CniError(ErrorCode.FirewallFailed, `${what}: ${failed.map((f) => (f.reason as Error).message).join('; ')}`);
}
