// Masquerade with iptables, in the reference layout (containernetworking/plugins
// pkg/ip/ipmasq_iptables_linux.go) so either implementation can remove what the other made:
//   nat chain  CNI-<first 24 hex of sha512(network + containerID)>   (ifname is ignored, as there)
//     -A <chain> -d <pod network> -m comment --comment "name: \"<net>\" id: \"<id>\"" -j ACCEPT
//     -A <chain> ! -d 224.0.0.0/4 (v6 ff00::/8) -m comment --comment … -j MASQUERADE
//   -A POSTROUTING -s <pod ip>/32 (v6 /128) -m comment --comment … -j <chain>
//
// Each call touches only the attachment's own chain and its jumps, so its cost does not grow with
// the number of pods on the node (see the README's benchmark):
//   ADD   one `iptables-restore --noflush` per family that creates the chain (`-N`), fills it and
//         appends the jumps; only when the chain already exists (a re-ADD) is the nat table read
//         (`iptables-save -t nat`) to add just what is missing, as the reference's AppendUnique does.
//   DEL   `iptables -S POSTROUTING` (that one chain) finds the jumps, then one restore deletes them and
//         the chain. With iptables-nft in the standalone build, one nf_tables transaction over netlink
//         does it for both families, without a process (lib/firewall/nftables/).
//   CHECK and GC read the nat table: they must see every rule they judge.
// Every command waits for the xtables lock at most LOCK_WAIT seconds (`-w`), never forever.
// This module is names, parsing, DEL and GC; ADD's and CHECK's address rules are in masquerade-setup.ts.
import { CniError, ErrorCode } from '../cni/errors.ts';
import type { Family } from '../net/address.ts';
import { run } from '../platform/exec.ts';
import { formatHashWithPrefix } from '../platform/hash.ts';
import { settleThenThrowJoined } from '../platform/steps.ts';
import { iptablesIsNft } from './backend.ts';
import { type FirewallDriver, readPlanApply } from './driver.ts';
import { deleteChain, deleteRule, flushChain, jumpTarget, type NfMessage, type NfRule, type TableRef } from './nftables/codec.ts';
import { chainExists, listRules, available as netlinkAvailable, netlinkOrNft, transact } from './nftables/netlink.ts';

export const FAMILIES: readonly Family[] = [4, 6];

/** Seconds any iptables command waits for the xtables lock (kube-proxy and others hold it too). */
export const LOCK_WAIT = '5';

export const TOOLS: Record<Family, { cmd: string; save: string; restore: string; nft: TableRef }> = {
  4: { cmd: 'iptables', save: 'iptables-save', restore: 'iptables-restore', nft: { family: 'ip', table: 'nat' } },
  6: { cmd: 'ip6tables', save: 'ip6tables-save', restore: 'ip6tables-restore', nft: { family: 'ip6', table: 'nat' } },
};

/** The multicast destinations a pod's chain does not masquerade. */
export const MULTICAST_CIDR: Record<Family, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

// ---------------------------------------------------------------- names (pure)

/** `CNI-` + 24 hex chars: the per-attachment nat chain (28 chars, under iptables' 29 limit). */
export const chainName = (network: string, containerID: string): string => formatHashWithPrefix(28, 'CNI-', network + containerID);

/** The comment on every rule: `name: "<net>" id: "<id>"` (Go `fmt.Sprintf("name: %q id: %q")`). */
export const masqRuleComment = (network: string, containerID: string): string =>
  `name: ${saveQuote(network)} id: ${saveQuote(containerID)}`;

/** Parse a comment written by `masqRuleComment` back into its parts; undefined for other comments. */
export function parseRuleComment(comment: string): { network: string; containerID: string } | undefined {
  const m = /^name: "((?:[^"\\]|\\.)*)" id: "((?:[^"\\]|\\.)*)"$/.exec(comment);
  if (!m) return undefined;
  const unq = (s: string) => s.replace(/\\(.)/g, '$1');
  return { network: unq(m[1]!), containerID: unq(m[2]!) };
}

/**
 * An argument as iptables-save prints it (and iptables-restore reads it); for the printable ASCII
 * our validated names consist of, also Go's %q.
 */
export const saveQuote = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

// ---------------------------------------------------------------- iptables-save parsing (pure)

export interface SavedRule {
  chain: string;
  /** The rule exactly as iptables-save printed it, starting with `-A `. */
  line: string;
  target?: string;
  comment?: string;
}

export interface NatState {
  chains: Set<string>;
  rules: SavedRule[];
}

/** Split a save line into arguments: double quotes group, backslash escapes the next character. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (!quoted && (c === ' ' || c === '\t')) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** The `*nat` section of `iptables-save` output. */
export function parseNatSave(text: string): NatState {
  const state: NatState = { chains: new Set(), rules: [] };
  let inNat = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) inNat = line === '*nat';
    else if (!inNat || line === 'COMMIT' || line.startsWith('#')) continue;
    else if (line.startsWith(':')) state.chains.add(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ')) {
      const args = splitArgs(line);
      const rule: SavedRule = { chain: args[1]!, line };
      for (let i = 2; i < args.length - 1; i++) {
        if (args[i] === '-j') rule.target = args[i + 1];
        if (args[i] === '--comment') rule.comment = args[i + 1];
      }
      state.rules.push(rule);
    }
  }
  return state;
}

// ---------------------------------------------------------------- plans (pure)
// A plan is the list of iptables-restore lines between `*nat` and `COMMIT`; empty = nothing to do.

export const restoreInput = (lines: string[]): string => `*nat\n${lines.join('\n')}\nCOMMIT\n`;

/** The `-A <from> … -j <chain>` lines of an `iptables -S <from>` listing. */
export function jumpsIn(listing: string, chain: string, from = 'POSTROUTING'): string[] {
  return listing
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`-A ${from} `) && splitArgs(l).at(-1) === chain && splitArgs(l).at(-2) === '-j');
}

/**
 * DEL, given the jumps found: declaring the chain creates it if absent (or flushes it), so `-X`
 * then always succeeds, and the deletions are one transaction.
 */
export const teardownLines = (chain: string, jumps: string[]): string[] => [
  `:${chain} - [0:0]`,
  ...jumps.map((l) => `-D ${l.slice(3)}`),
  `-X ${chain}`,
];

/** The same DEL as nf_tables messages, for both families' tables (iptables-nft keeps its rules there). */
export function teardownMessages(
  chain: string,
  perFamily: Array<{ ref: TableRef; postrouting: NfRule[]; chainExists: boolean }>,
): NfMessage[] {
  return perFamily.flatMap(({ ref, postrouting, chainExists: exists }) => [
    ...postrouting.filter((r) => jumpTarget(r) === chain).map((r) => deleteRule(ref, 'POSTROUTING', r.handle)),
    ...(exists ? [flushChain(ref, chain), deleteChain(ref, chain)] : []),
  ]);
}

/** Lines removing every rule that jumps to `chain`, then the chain itself (if present). */
export function planRemoveChain(chain: string, state: NatState): string[] {
  const lines = state.rules.filter((r) => r.target === chain && r.chain !== chain).map((r) => `-D ${r.line.slice(3)}`);
  if (state.chains.has(chain)) lines.push(`-F ${chain}`, `-X ${chain}`);
  return lines;
}

export const planTeardown = (network: string, containerID: string, state: NatState): string[] =>
  planRemoveChain(chainName(network, containerID), state);

/**
 * GC: chains of `network` (recognised by a rule comment naming the network and a container ID
 * whose hash is the chain's name) whose container ID is not among `validIDs`.
 */
export function planGc(network: string, validIDs: Set<string>, state: NatState): string[] {
  const stale = new Set<string>();
  for (const r of state.rules) {
    const owner = r.comment ? parseRuleComment(r.comment) : undefined;
    if (!owner || owner.network !== network || validIDs.has(owner.containerID)) continue;
    const chain = chainName(network, owner.containerID);
    if (r.chain === chain || r.target === chain) stale.add(chain);
  }
  return [...stale].sort().flatMap((chain) => planRemoveChain(chain, state));
}

// ---------------------------------------------------------------- kernel (thin shell)

/** iptables is absent or cannot reach the kernel: nothing of ours can exist there. */
const UNUSABLE =
  /ENOENT|No such file or directory|can't initialize|Table does not exist|Could not fetch rule set|Permission denied|not found/i;

/** `iptables-save -t nat` parsed; undefined when that family's iptables is unusable. */
export async function readNat(family: Family): Promise<NatState | undefined> {
  const r = await run(TOOLS[family].save, ['-t', 'nat']); // no lock: it only reads
  if (r.code !== 0) {
    if (r.code === 127 || UNUSABLE.test(r.stderr)) return undefined;
    throw new CniError(ErrorCode.FirewallFailed, `${TOOLS[family].save}: ${r.stderr.trim().slice(0, 300)}`);
  }
  return parseNatSave(r.stdout);
}

/** A chain that is not there, as `iptables -S <chain>` says it (iptables-nft's wording included). */
const NO_CHAIN = /No chain\/target\/match|does not exist|incompatible, use 'nft'/i;

/**
 * `iptables -S <chain>` of the nat table: that one chain's rules (iptables-nft reads only it);
 * undefined when that family's iptables is unusable or the chain does not exist.
 */
export async function listChain(family: Family, chain: string): Promise<string | undefined> {
  const r = await run(TOOLS[family].cmd, ['-w', LOCK_WAIT, '-t', 'nat', '-S', chain]);
  if (r.code !== 0) {
    if (r.code === 127 || UNUSABLE.test(r.stderr) || NO_CHAIN.test(r.stderr)) return undefined;
    throw new CniError(ErrorCode.FirewallFailed, `${TOOLS[family].cmd}: ${r.stderr.trim().slice(0, 300)}`);
  }
  return r.stdout;
}

export class RestoreError extends CniError {
  constructor(
    what: string,
    tool: string,
    readonly stderr: string,
  ) {
    super(ErrorCode.FirewallFailed, `${what}: ${tool}: ${stderr.trim().split('\n')[0]?.slice(0, 300)}`);
  }
}

export async function applyNat(family: Family, lines: string[], what: string): Promise<void> {
  if (!lines.length) return;
  const r = await run(TOOLS[family].restore, ['-w', LOCK_WAIT, '--noflush'], { input: restoreInput(lines) });
  if (r.code !== 0) throw new RestoreError(what, TOOLS[family].restore, r.stderr || `exited ${r.code}`);
}

/**
 * One family's nat table brought to what `plan` wants. `required`: an unusable iptables is an
 * error (setup), or means there is nothing of ours to remove (teardown, GC).
 */
export function reconcile(
  family: Family,
  what: string,
  plan: (state: NatState) => string[],
  required: boolean,
  /** A state just read, planned from first (a retry reads again). */
  initial?: NatState,
): Promise<void> {
  let first = initial;
  return readPlanApply({
    read: async () => {
      const state = first ?? (await readNat(family));
      first = undefined;
      return state;
    },
    plan: (state) => {
      if (state) return plan(state);
      if (required) throw new CniError(ErrorCode.FirewallFailed, `${what}: ${TOOLS[family].save} is not usable on this host`);
      return null;
    },
    apply: (lines) => applyNat(family, lines, what),
  });
}

/** DEL for one family with processes: list POSTROUTING, then one restore (nothing when nothing is there). */
function teardownFamily(family: Family, chain: string): Promise<void> {
  return readPlanApply({
    read: () => listChain(family, 'POSTROUTING'),
    plan: (listing) => (listing === undefined ? null : { jumps: jumpsIn(listing, chain) }),
    apply: async ({ jumps }) => {
      if (jumps.length) return applyNat(family, teardownLines(chain, jumps), 'masquerade teardown');
      // No jump: delete the chain if it exists (a restore that fails on a missing chain changes nothing).
      try {
        await applyNat(family, [`-F ${chain}`, `-X ${chain}`], 'masquerade teardown');
      } catch (e) {
        if (!(e instanceof RestoreError && /No chain|does not exist|doesn't exist/i.test(e.stderr))) throw e;
      }
    },
  });
}

/** DEL for both families in one nf_tables transaction (iptables-nft's tables, read and written over netlink). */
function teardownViaNetlink(chain: string): Promise<void> {
  return readPlanApply({
    read: async () =>
      FAMILIES.flatMap((f) => {
        const ref = TOOLS[f].nft;
        const postrouting = listRules(ref, 'POSTROUTING', { jumpsTo: chain });
        return postrouting ? [{ ref, postrouting, chainExists: chainExists(ref, chain) }] : [];
      }),
    plan: (perFamily) => {
      const msgs = teardownMessages(chain, perFamily);
      return msgs.length ? msgs : null;
    },
    apply: async (msgs) => transact('masquerade teardown', msgs),
  });
}

/** The iptables driver: per-attachment nat chain CNI-<hash> and its POSTROUTING jumps, per family. */
export const iptablesMasqueradeRemoval: Pick<FirewallDriver<string[]>, 'teardown' | 'gc'> = {
  // Both families: the addresses (and so the families) may be unknown at DEL time.
  async teardown({ network, containerID }) {
    const chain = chainName(network, containerID);
    const withProcesses = async () => {
      await settleThenThrowJoined(FAMILIES.map((f) => () => teardownFamily(f, chain)));
    };
    if (!netlinkAvailable() || !iptablesIsNft()) return withProcesses();
    await netlinkOrNft('iptables masquerade teardown', () => teardownViaNetlink(chain), withProcesses);
  },
  // Chains are per (network, container ID): the reference ignores ifname here.
  async gc(network, valid) {
    const validIDs = new Set(valid.map((a) => a.containerID));
    await settleThenThrowJoined(FAMILIES.map((f) => () => reconcile(f, 'masquerade GC', (s) => planGc(network, validIDs, s), false)));
  },
};
