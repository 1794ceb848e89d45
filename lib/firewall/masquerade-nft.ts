// Masquerade with nftables, in the reference layout (containernetworking/plugins
// pkg/ip/ipmasq_nftables_linux.go, knftables) so either implementation can remove what the other made:
//   table inet cni_plugins_masquerade
//     chain masq_checks   one rule per pod address:
//         ip saddr <pod ip> ip daddr != <pod network> masquerade
//         comment "<h16(net)>-<h16(ifname:id)>, net: <net>, if: <ifname>, id: <id>"
//     chain postrouting   (nat, postrouting hook, srcnat), rebuilt on every ADD:
//         multicast destinations return, everything else goto masq_checks
// Rules are found by their comment's hash prefix, so DEL and GC need no pod addresses.
// Each operation is one `nft -j list table …` read and at most one `nft -f -` transaction.

import { bitsOf, type Cidr, formatIP, ipEqual, networkOf, parseIP } from '../net/address.ts';
import { formatHashWithPrefix } from '../platform/hash.ts';
import { type AttachmentKey, type FirewallDriver, readPlanApply } from './driver.ts';
import { parseAddresses } from './masquerade-iptables.ts';
import { chainsOf, type NftObject, type NftRule, nftApply, nftList, nftQuoted, rulesOf } from './nft.ts';

export const TABLE = 'cni_plugins_masquerade';
export const MASQ_CHAIN = 'masq_checks';
const TABLE_COMMENT = 'Masquerading for plugins from github.com/containernetworking/plugins';
const CHAIN_COMMENT = 'Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet';
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

const T = `inet ${TABLE}`;

/** Handles of masq_checks rules whose comment starts with `prefix`. */
export const handlesWithPrefix = (rules: NftRule[], prefix: string): number[] =>
  rules.filter((r) => r.chain === MASQ_CHAIN && r.comment?.startsWith(prefix)).map((r) => r.handle);

const deleteLines = (handles: number[]): string[] => handles.map((h) => `delete rule ${T} ${MASQ_CHAIN} handle ${h}`);

/**
 * One transaction: ensure table and chains, rebuild postrouting, replace this attachment's rules
 * (`stale` = handles of its existing rules, so a re-ADD does not duplicate them).
 */
export function setupScript(network: string, ifname: string, containerID: string, ips: string[], stale: number[]): string {
  const comment = nftQuoted(commentForInstance(network, ifname, containerID));
  const lines = [
    `add table ${T} { comment ${nftQuoted(TABLE_COMMENT)} ; }`,
    `add chain ${T} ${MASQ_CHAIN} { comment ${nftQuoted(CHAIN_COMMENT)} ; }`,
    `add chain ${T} postrouting { type nat hook postrouting priority srcnat ; }`,
    `flush chain ${T} postrouting`,
    `add rule ${T} postrouting ip daddr 224.0.0.0/4 return`,
    `add rule ${T} postrouting ip6 daddr ff00::/8 return`,
    `add rule ${T} postrouting goto ${MASQ_CHAIN}`,
    ...deleteLines(stale),
  ];
  for (const c of parseAddresses(ips)) {
    const proto = c.ip.family === 4 ? 'ip' : 'ip6';
    const net = `${formatIP(networkOf(c))}/${c.prefix}`;
    lines.push(`add rule ${T} ${MASQ_CHAIN} ${proto} saddr ${formatIP(c.ip)} ${proto} daddr != ${net} masquerade comment ${comment}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Rule handles to delete on teardown (empty = nothing there). */
export const teardownHandles = (rules: NftRule[], network: string, ifname: string, containerID: string): number[] =>
  handlesWithPrefix(rules, hashForInstance(network, ifname, containerID));

/** Rules of `network` whose comment is not that of a valid attachment. */
export function gcHandles(rules: NftRule[], network: string, valid: readonly AttachmentKey[]): number[] {
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

/** What CHECK misses (empty = all present), given `nft -j list table inet cni_plugins_masquerade`. */
export function missingNftRules(objs: NftObject[] | null, network: string, ifname: string, containerID: string, ips: string[]): string[] {
  if (!objs) return [`nftables table ${T}`];
  const rules = rulesOf(objs);
  const missing: string[] = [];
  if (!chainsOf(objs).some((c) => c.name === 'postrouting' && c.hook === 'postrouting')) missing.push(`nftables chain ${T} postrouting`);
  else if (!rules.some((r) => r.chain === 'postrouting' && (r.expr ?? []).some((e) => e?.goto?.target === MASQ_CHAIN))) {
    missing.push(`nftables rule "goto ${MASQ_CHAIN}" in ${T} postrouting`);
  }
  const comment = commentForInstance(network, ifname, containerID);
  const mine = rules.filter((r) => r.chain === MASQ_CHAIN && r.comment === comment).map(ruleAddresses);
  for (const c of parseAddresses(ips)) {
    const net: Cidr = { ip: networkOf(c), prefix: c.prefix };
    const found = mine.some((a) => {
      const src = a.saddr ? parseIP(a.saddr) : null;
      const [dAddr, dLen] = (a.notDaddr ?? '').split('/');
      const dst = dAddr ? parseIP(dAddr) : null;
      const len = dLen === undefined ? bitsOf(c.ip.family) : Number(dLen);
      return !!src && ipEqual(src, c.ip) && !!dst && ipEqual(dst, net.ip) && len === net.prefix;
    });
    if (!found) missing.push(`nftables masquerade rule for ${formatIP(c.ip)} in ${T} ${MASQ_CHAIN}`);
  }
  return missing;
}

// ---------------------------------------------------------------- kernel (thin shell)

const readTable = (): Promise<NftObject[] | null> => nftList(['table', 'inet', TABLE]);

/** Read, plan, write; again when a concurrent change invalidated a handle we meant to delete. */
const changeTable = (what: string, plan: (objs: NftObject[] | null) => string | null): Promise<void> =>
  readPlanApply({ read: readTable, plan, apply: (script) => nftApply(what, script) });

/** The nftables driver: one rule per pod address in inet cni_plugins_masquerade masq_checks. */
export const nftMasquerade: FirewallDriver<string[]> = {
  setup: ({ network, ifname, containerID }, ips) =>
    changeTable('masquerade setup', (objs) =>
      setupScript(network, ifname, containerID, ips, objs ? teardownHandles(rulesOf(objs), network, ifname, containerID) : []),
    ),
  teardown: ({ network, ifname, containerID }) =>
    changeTable('masquerade teardown', (objs) => {
      const handles = objs ? teardownHandles(rulesOf(objs), network, ifname, containerID) : [];
      return handles.length ? deleteScript(handles) : null;
    }),
  gc: (network, valid) =>
    changeTable('masquerade GC', (objs) => {
      const handles = objs ? gcHandles(rulesOf(objs), network, valid) : [];
      return handles.length ? deleteScript(handles) : null;
    }),
  missing: async ({ network, ifname, containerID }, ips) => missingNftRules(await readTable(), network, ifname, containerID, ips),
};
