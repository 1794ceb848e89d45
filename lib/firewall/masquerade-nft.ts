// Masquerade with nftables, in the reference layout (containernetworking/plugins
// pkg/ip/ipmasq_nftables_linux.go, knftables) so either implementation can remove what the other made:
//   table inet cni_plugins_masquerade
//     chain masq_checks   one rule per pod address:
//         ip saddr <pod ip> ip daddr != <pod network> masquerade
//         comment "<h16(net)>-<h16(ifname:id)>, net: <net>, if: <ifname>, id: <id>"
//     chain postrouting   (nat, postrouting hook, srcnat), rebuilt on every ADD:
//         multicast destinations return, everything else goto masq_checks
// Rules are found by their comment's hash prefix, so DEL and GC need no pod addresses: this module
// is names, DEL and GC; what ADD and CHECK write for the addresses is in masquerade-setup.ts.
// The standalone build speaks netlink (lib/firewall/nftables/): each operation reads only the two
// chains of this table and writes at most one transaction, and postrouting is rebuilt only when it
// is not already the three rules it must be. The Node build runs `nft`: one `nft -j list table …`
// read and at most one `nft -f -` transaction. Both write the same bytes (unit-tested against nft).

import { formatHashWithPrefix } from '../platform/hash.ts';
import { type AttachmentKey, type FirewallDriver, readPlanApply } from './driver.ts';
import { chainsOf, type NftObject, type NftRule, nftApply, nftList, type RuleRef, rulesOf } from './nft.ts';
import {
  addressMatch,
  deleteRule,
  type Expr,
  type NfMessage,
  type NfRule,
  nfprotoIs,
  sameExprs,
  type TableRef,
  verdict,
} from './nftables/codec.ts';
import { listRules, netlinkOrNft, transact } from './nftables/netlink.ts';

export const TABLE = 'cni_plugins_masquerade';
export const MASQ_CHAIN = 'masq_checks';
export const TABLE_COMMENT = 'Masquerading for plugins from github.com/containernetworking/plugins';
export const CHAIN_COMMENT = 'Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet';
/** knftables.CommentLengthMax */
const COMMENT_MAX = 128;

// ---------------------------------------------------------------- names (pure)

export const hashForNetwork = (network: string): string => formatHashWithPrefix(16, '', network);

export const hashForInstance = (network: string, ifname: string, containerID: string): string =>
  `${hashForNetwork(network)}-${formatHashWithPrefix(16, '', `${ifname}:${containerID}`)}`;

/** The rule comment: hash first (what lookups match on), then a readable description, cut to 128 bytes. */
export function commentForInstance(network: string, ifname: string, containerID: string): string {
  const strip = (s: string) => s.replaceAll('"', '');
  const full = `${hashForInstance(network, ifname, containerID)}, net: ${strip(network)}, if: ${strip(ifname)}, id: ${strip(containerID)}`;
  const bytes = new TextEncoder().encode(full);
  return bytes.length > COMMENT_MAX ? new TextDecoder().decode(bytes.subarray(0, COMMENT_MAX)) : full;
}

// ---------------------------------------------------------------- scripts (pure)

export const T = `inet ${TABLE}`;

/** Handles of masq_checks rules whose comment starts with `prefix`. */
export const handlesWithPrefix = (rules: RuleRef[], prefix: string): number[] =>
  rules.filter((r) => r.chain === MASQ_CHAIN && r.comment?.startsWith(prefix)).map((r) => r.handle);

export const deleteLines = (handles: number[]): string[] => handles.map((h) => `delete rule ${T} ${MASQ_CHAIN} handle ${h}`);

/** postrouting's three rules as `nft -j` prints them. */
const POSTROUTING_JSON = [
  [
    { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { prefix: { addr: '224.0.0.0', len: 4 } } } },
    { return: null },
  ],
  [
    { match: { op: '==', left: { payload: { protocol: 'ip6', field: 'daddr' } }, right: { prefix: { addr: 'ff00::', len: 8 } } } },
    { return: null },
  ],
  [{ goto: { target: MASQ_CHAIN } }],
].map((e) => JSON.stringify(e));

/** Whether `nft -j list table` shows both chains, and postrouting exactly as a rebuild would write it. */
export function tableInPlace(objs: NftObject[] | null): boolean {
  if (!objs) return false;
  const chains = new Set(chainsOf(objs).map((c) => c.name));
  const post = rulesOf(objs).filter((r) => r.chain === 'postrouting');
  return (
    chains.has(MASQ_CHAIN) &&
    chains.has('postrouting') &&
    post.length === 3 &&
    post.every((r, i) => JSON.stringify(r.expr) === POSTROUTING_JSON[i])
  );
}

/** Rule handles to delete on teardown (empty = nothing there). */
export const teardownHandles = (rules: RuleRef[], network: string, ifname: string, containerID: string): number[] =>
  handlesWithPrefix(rules, hashForInstance(network, ifname, containerID));

/** Rules of `network` whose comment is not that of a valid attachment. */
export function gcHandles(rules: RuleRef[], network: string, valid: readonly AttachmentKey[]): number[] {
  const keep = new Set(valid.map((a) => commentForInstance(network, a.ifname, a.containerID)));
  return rules
    .filter((r) => r.chain === MASQ_CHAIN && r.comment?.startsWith(hashForNetwork(network)) && !keep.has(r.comment))
    .map((r) => r.handle);
}

export const deleteScript = (handles: number[]): string => `${deleteLines(handles).join('\n')}\n`;

/** The source address and excluded destination network a masq_checks rule matches on. */
export function ruleAddresses(rule: NftRule): { saddr?: string; notDaddr?: string } {
  const out: { saddr?: string; notDaddr?: string } = {};
  for (const e of rule.expr ?? []) {
    const m = e?.match;
    const field = m?.left?.payload?.field;
    if (field === 'saddr' && m.op === '==' && typeof m.right === 'string') out.saddr = m.right;
    if (field === 'daddr' && m.op === '!=') {
      const p = m.right?.prefix;
      out.notDaddr = p ? `${p.addr}/${p.len}` : typeof m.right === 'string' ? m.right : undefined;
    }
  }
  return out;
}

// ---------------------------------------------------------------- netlink messages (pure)

export const REF: TableRef = { family: 'inet', table: TABLE };
export const POSTROUTING = 'postrouting';
const MULTICAST: Record<4 | 6, [Uint8Array, number]> = {
  4: [Uint8Array.of(224, 0, 0, 0), 4],
  6: [Uint8Array.of(0xff, ...new Uint8Array(15)), 8],
};

/** postrouting's three rules: multicast destinations return, everything else goto masq_checks. */
export const postroutingRules = (): Expr[][] => [
  [...nfprotoIs(4), ...addressMatch(4, 'daddr', 'eq', ...MULTICAST[4]), verdict('return')],
  [...nfprotoIs(6), ...addressMatch(6, 'daddr', 'eq', ...MULTICAST[6]), verdict('return')],
  [verdict('goto', MASQ_CHAIN)],
];

export const deleteMessages = (handles: number[]): NfMessage[] => handles.map((h) => deleteRule(REF, MASQ_CHAIN, h));

/** Whether postrouting is exactly the three rules (in order) that a rebuild would write. */
export const postroutingIntact = (rules: NfRule[]): boolean =>
  rules.length === 3 && postroutingRules().every((exprs, i) => sameExprs(rules[i]!, exprs));

// ---------------------------------------------------------------- kernel (thin shell)

/**
 * Read both chains (of masq_checks only the rules whose comment starts with `prefix`), plan, write
 * one transaction; again when a concurrent change got in between.
 */
export function changeViaNetlink(
  what: string,
  prefix: string,
  plan: (postrouting: NfRule[] | null, masqChecks: RuleRef[] | null) => NfMessage[] | null,
): Promise<void> {
  return readPlanApply({
    read: async () => ({ postrouting: listRules(REF, POSTROUTING), masqChecks: listRules(REF, MASQ_CHAIN, prefix) }),
    plan: (s) => plan(s.postrouting, s.masqChecks),
    apply: async (messages) => transact(what, messages),
  });
}

export const readTable = (): Promise<NftObject[] | null> => nftList(['table', 'inet', TABLE]);

/** Read, plan, write; again when a concurrent change invalidated a handle we meant to delete. */
export const changeTable = (what: string, plan: (objs: NftObject[] | null) => string | null): Promise<void> =>
  readPlanApply({ read: readTable, plan, apply: (script) => nftApply(what, script) });

/** The nftables driver: one rule per pod address in inet cni_plugins_masquerade masq_checks. */
export const nftMasqueradeRemoval: Pick<FirewallDriver<string[]>, 'teardown' | 'gc'> = {
  teardown: ({ network, ifname, containerID }) =>
    netlinkOrNft(
      'masquerade teardown',
      () =>
        changeViaNetlink('masquerade teardown', hashForInstance(network, ifname, containerID), (_, masqChecks) => {
          const handles = teardownHandles(masqChecks ?? [], network, ifname, containerID);
          return handles.length ? deleteMessages(handles) : null;
        }),
      () =>
        changeTable('masquerade teardown', (objs) => {
          const handles = objs ? teardownHandles(rulesOf(objs), network, ifname, containerID) : [];
          return handles.length ? deleteScript(handles) : null;
        }),
    ),
  gc: (network, valid) =>
    netlinkOrNft(
      'masquerade GC',
      () =>
        changeViaNetlink('masquerade GC', hashForNetwork(network), (_, masqChecks) => {
          const handles = gcHandles(masqChecks ?? [], network, valid);
          return handles.length ? deleteMessages(handles) : null;
        }),
      () =>
        changeTable('masquerade GC', (objs) => {
          const handles = objs ? gcHandles(rulesOf(objs), network, valid) : [];
          return handles.length ? deleteScript(handles) : null;
        }),
    ),
};
