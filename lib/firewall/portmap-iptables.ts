// Host ports with iptables, in the reference portmap's layout (containernetworking/plugins
// plugins/meta/portmap), so either implementation's DEL and CHECK work on the other's state.
// All in table nat, the same in iptables and ip6tables:
//   CNI-HOSTPORT-DNAT      shared; jumped to from PREROUTING and OUTPUT (`-m addrtype --dst-type LOCAL`)
//   CNI-HOSTPORT-SETMARK   shared (snat); `-j MARK --set-xmark <mark>/<mark>`
//   CNI-HOSTPORT-MASQ      shared (snat); marked packets → MASQUERADE; POSTROUTING jumps here first
//   CNI-DN-<21 hex of sha512(network + containerID)>   per attachment: per mapping, the hairpin and
//       localhost mark rules and the DNAT; entered from CNI-HOSTPORT-DNAT by one multiport rule per
//       protocol (15 ports each) commented `dnat name: "<net>" id: "<id>"`.
// Each call touches only the attachment's chain and its entry rules, so its cost does not grow
// with the pods on the node (see the README's node-scale benchmark):
//   ADD   one `iptables-restore -w --noflush` per family that creates the attachment's chain with
//         `-N` (a re-ADD is told by its failure), fills it and appends the entry rules, once the
//         shared chains are known to be in place: checked over netlink in the standalone build with
//         iptables-nft (their jumps and the masquerade mark; no process), by `-C` lines in the same
//         restore otherwise. When any of that fails (a bare node, a re-ADD, a shared rule someone
//         removed) the nat table is read (`iptables-save -t nat`) and exactly what is missing is
//         written. The shared chains are created with `-N` (a `:` declaration would flush other
//         pods' entry rules), by one ADD at a time holding a lock file: iptables-nft lets two
//         concurrent restores `-N` the same chain, and both would append the shared rules.
//   DEL   with iptables-nft in the standalone build: one nf_tables transaction over netlink for
//         both families (the entry rules found among CNI-HOSTPORT-DNAT's by their jump, on the
//         dump's bytes; the chain flushed and deleted). Otherwise `iptables -S` of CNI-HOSTPORT-DNAT
//         and of the attachment's chain (one chain each) and one restore per family, none when
//         nothing is there. The legacy CNI-SN chain of old versions, if there, makes DEL read the
//         whole table, as any unexpected state does.
//   CHECK and GC read the nat table: they must see every rule they judge.
// DEL and GC find an attachment by its chain name (network + container ID), never by addresses;
// the shared chains are never removed. Every command waits for the xtables lock at most LOCK_WAIT.
// This module is names, rules without addresses, DEL and GC; ADD's and CHECK's rules for the pod's
// addresses are in portmap-iptables-setup.ts, loaded for ADD and CHECK only (no address code on DEL).
import type { Family } from '../net/address.ts';
import { formatHashWithPrefix } from '../platform/hash.ts';
import { ERRNO } from '../platform/libc.ts';
import { settleThenThrowJoined } from '../platform/steps.ts';
import { iptablesIsNft } from './backend.ts';
import { type AttachmentKey, type FirewallDriver, readPlanApply } from './driver.ts';
import {
  applyNat,
  jumpsIn,
  listChain,
  type NatState,
  planRemoveChain,
  RestoreError,
  reconcile,
  TOOLS,
  teardownLines,
} from './masquerade-iptables.ts';
import { deleteChain, deleteRule, flushChain, jumpTarget, type NfMessage } from './nftables/codec.ts';
import { chainExists, listRules, NfError, netlinkOrNft, available as nfNetlinkAvailable, transact } from './nftables/netlink.ts';
import { FAMILIES, type HostportWant, hexMark } from './portmap-want.ts';

export const DNAT_CHAIN = 'CNI-HOSTPORT-DNAT';
export const SETMARK_CHAIN = 'CNI-HOSTPORT-SETMARK';
export const MASQ_CHAIN = 'CNI-HOSTPORT-MASQ';
/** The multiport match takes at most 15 ports. */
const MULTIPORT_MAX = 15;
const SETMARK_COMMENT = 'CNI portfwd masquerade mark';
const POSTROUTING_COMMENT = 'CNI portfwd requiring masquerade';
/** iptables' comment match holds 255 bytes. */
const COMMENT_MAX = 255;

// ---------------------------------------------------------------- names (pure)

/** `CNI-DN-` + 21 hex of sha512(network + containerID): the attachment's chain, in both families. */
export const dnatChainName = (network: string, containerID: string): string => formatHashWithPrefix(28, 'CNI-DN-', network + containerID);

/** The per-attachment SNAT chain of old reference versions; DEL still removes it, as the reference does. */
export const legacySnatChainName = (network: string, containerID: string): string =>
  formatHashWithPrefix(28, 'CNI-SN-', network + containerID);

/**
 * The entry rules' comment, Go's `fmt.Sprintf("dnat name: %q id: %q")` (names and IDs are
 * validated to characters %q leaves alone). A longer one is cut to 252 bytes plus `...`: iptables
 * refuses more than 255 (the reference cuts to 256, which iptables refuses).
 */
export function entryComment(network: string, containerID: string): string {
  const c = `dnat name: "${network}" id: "${containerID}"`;
  return c.length > COMMENT_MAX ? `${c.slice(0, COMMENT_MAX - 3)}...` : c;
}

/** The owner of an entry rule, from its comment; undefined for other comments (or a cut one). */
export function parseEntryComment(comment: string): { network: string; containerID: string } | undefined {
  const m = /^dnat name: "([^"\\]*)" id: "([^"\\]*)"$/.exec(comment);
  return m ? { network: m[1]!, containerID: m[2]! } : undefined;
}

// ---------------------------------------------------------------- rules (pure)

/** A rule as an argument vector (what follows `-A <chain>`). */
export interface Rule {
  chain: string;
  args: string[];
}

/** An argument in iptables-restore's syntax: bare when plain, else double-quoted with `\` escapes. */
export const restoreArg = (a: string): string => (/^[\w.:/,!+=@%[\]-]+$/.test(a) ? a : `"${a.replace(/[\\"]/g, (c) => `\\${c}`)}"`);

export const ruleLine = (op: '-A' | '-C' | '-I', r: Rule): string =>
  `${op} ${r.chain}${op === '-I' ? ' 1' : ''} ${r.args.map(restoreArg).join(' ')}`;

export const markArg = (mark: number): string => `${hexMark(mark)}/${hexMark(mark)}`;

export const setmarkRule = (mark: number): Rule => ({
  chain: SETMARK_CHAIN,
  args: ['-m', 'comment', '--comment', SETMARK_COMMENT, '-j', 'MARK', '--set-xmark', markArg(mark)],
});
export const masqRule = (mark: number): Rule => ({ chain: MASQ_CHAIN, args: ['-m', 'mark', '--mark', markArg(mark), '-j', 'MASQUERADE'] });
/** Inserted at position 1 of POSTROUTING, as the reference does. */
export const postroutingJump: Rule = { chain: 'POSTROUTING', args: ['-m', 'comment', '--comment', POSTROUTING_COMMENT, '-j', MASQ_CHAIN] };
export const hookJumps: Rule[] = ['PREROUTING', 'OUTPUT'].map((chain) => ({
  chain,
  args: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', DNAT_CHAIN],
}));

export const masqueradeWanted = (want: HostportWant): boolean => want.snat && !want.externalSetMarkChain;

/**
 * The entry rules in CNI-HOSTPORT-DNAT: one per protocol (sorted) and 15 host ports, listing every
 * mapping of that protocol whatever its hostIP's family (as the reference does), then the family's
 * conditions.
 */
export function entryRules(network: string, containerID: string, family: Family, want: HostportWant): Rule[] {
  const chain = dnatChainName(network, containerID);
  const comment = entryComment(network, containerID);
  const byProtocol = new Map<string, number[]>();
  for (const m of want.mappings) byProtocol.set(m.protocol, [...(byProtocol.get(m.protocol) ?? []), m.hostPort]);
  const rules: Rule[] = [];
  for (const proto of [...byProtocol.keys()].sort()) {
    const ports = byProtocol.get(proto)!;
    for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
      rules.push({
        chain: DNAT_CHAIN,
        args: [
          '-p',
          proto,
          '-m',
          'comment',
          '--comment',
          comment,
          '-m',
          'multiport',
          '--dports',
          ports.slice(i, i + MULTIPORT_MAX).join(','),
          ...want.conditions[family],
          '-j',
          chain,
        ],
      });
    }
  }
  return rules;
}

// ---------------------------------------------------------------- plans (pure)

/** Lines removing the attachment's chain (and the legacy SNAT chain of old versions) with every jump to them. */
export const planTeardown = (network: string, containerID: string, state: NatState): string[] => [
  ...planRemoveChain(dnatChainName(network, containerID), state),
  ...planRemoveChain(legacySnatChainName(network, containerID), state),
];

/** GC: the chains of `network`'s attachments (found by their entry rules' comments) whose container ID is not valid. */
export function planGc(network: string, validIDs: ReadonlySet<string>, state: NatState): string[] {
  const stale = new Set<string>();
  for (const r of state.rules) {
    const owner = r.comment ? parseEntryComment(r.comment) : undefined;
    if (!owner || owner.network !== network || validIDs.has(owner.containerID)) continue;
    if (r.target === dnatChainName(network, owner.containerID)) stale.add(owner.containerID);
  }
  return [...stale].sort().flatMap((id) => planTeardown(network, id, state));
}

// ---------------------------------------------------------------- kernel (thin shell)

/**
 * DEL in both families as one nf_tables transaction (iptables-nft's tables): the entry rules
 * (CNI-HOSTPORT-DNAT's rules that jump to the chain; that chain is read only when the attachment's
 * chain exists, which no pod without host ports has), then the chain. False when this cannot be
 * done safely here — the legacy SNAT chain exists, or something else still jumps to the chain —
 * and the caller does it with processes.
 */
async function teardownViaNetlink(network: string, containerID: string): Promise<boolean> {
  const [dn, sn] = [dnatChainName(network, containerID), legacySnatChainName(network, containerID)];
  let legacy = false;
  try {
    await readPlanApply({
      read: async () =>
        FAMILIES.map((f) => {
          const ref = TOOLS[f].nft;
          const exists = chainExists(ref, dn);
          legacy ||= chainExists(ref, sn);
          return {
            ref,
            exists,
            entries: exists ? (listRules(ref, DNAT_CHAIN, { jumpsTo: dn }) ?? []).filter((r) => jumpTarget(r) === dn) : [],
          };
        }),
      plan: (perFamily): NfMessage[] | null => {
        if (legacy) return null;
        const msgs = perFamily.flatMap(({ ref, exists, entries }) => [
          ...entries.map((r) => deleteRule(ref, DNAT_CHAIN, r.handle)),
          ...(exists ? [flushChain(ref, dn), deleteChain(ref, dn)] : []),
        ]);
        return msgs.length ? msgs : null;
      },
      apply: async (msgs) => transact('portmap teardown', msgs),
    });
  } catch (e) {
    if (e instanceof NfError && e.errno === ERRNO.EBUSY) return false;
    throw e;
  }
  return !legacy;
}

/**
 * DEL in one family with processes: list CNI-HOSTPORT-DNAT, the attachment's chain and the legacy
 * SNAT chain (each `iptables -S` of one chain, in parallel); then one restore removing the entry
 * rules and the chain, or nothing when neither is there. A legacy chain, or a restore that fails
 * (something else jumps to the chain), makes it read the whole table and remove every jump it finds.
 */
async function teardownFamily(family: Family, network: string, containerID: string): Promise<void> {
  const [dn, sn] = [dnatChainName(network, containerID), legacySnatChainName(network, containerID)];
  const whole = () => reconcile(family, 'portmap teardown', (s) => planTeardown(network, containerID, s), false);
  const [listing, own, legacy] = await Promise.all([DNAT_CHAIN, dn, sn].map((c) => listChain(family, c)));
  if (legacy !== undefined) return whole();
  const entries = listing === undefined ? [] : jumpsIn(listing, dn, DNAT_CHAIN);
  if (!entries.length && own === undefined) return;
  try {
    await applyNat(family, teardownLines(dn, entries), 'portmap teardown');
  } catch (e) {
    if (!(e instanceof RestoreError)) throw e;
    await whole();
  }
}

/** The iptables driver's DEL and GC: per-attachment CNI-DN chain and its entry rules, found by name. */
export const iptablesHostportsRemoval: Pick<FirewallDriver<HostportWant>, 'teardown' | 'gc'> = {
  // Both families: the pod's addresses may be unknown at DEL time.
  async teardown({ network, containerID }) {
    if (nfNetlinkAvailable() && iptablesIsNft()) {
      const done = await netlinkOrNft(
        'iptables portmap teardown',
        () => teardownViaNetlink(network, containerID),
        async () => false,
      );
      if (done) return;
    }
    await settleThenThrowJoined(FAMILIES.map((f) => () => teardownFamily(f, network, containerID)));
  },
  // Chains are per (network, container ID): ifname plays no part, as in the reference.
  async gc(network: string, valid: readonly AttachmentKey[]) {
    const validIDs = new Set(valid.map((a) => a.containerID));
    await settleThenThrowJoined(FAMILIES.map((f) => () => reconcile(f, 'portmap GC', (s) => planGc(network, validIDs, s), false)));
  },
};
