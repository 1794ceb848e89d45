// What masquerade's ADD writes and CHECK expects for the pod addresses, for both backends: the only
// masquerade code that parses and formats addresses. DEL and GC find their rules by chain name and
// comment (lib/firewall/masquerade-iptables.ts, masquerade-nft.ts), so they load neither this module
// nor lib/net/address.ts (ip-num): lib/firewall/masquerade.ts imports this for setup and check only.
import { CniError, ErrorCode } from '../cni/errors.ts';
import {
  bitsOf,
  type Cidr,
  type Family,
  formatCidr,
  formatIP,
  ipBytes,
  ipEqual,
  networkOf,
  parseIP,
  parseIPOrCidr,
} from '../net/address.ts';
import { settleThenThrowFirst } from '../platform/steps.ts';
import type { FirewallDriver } from './driver.ts';
import {
  applyNat,
  chainName,
  FAMILIES,
  MULTICAST_CIDR,
  masqRuleComment,
  type NatState,
  RestoreError,
  readNat,
  reconcile,
  saveQuote,
  TOOLS,
} from './masquerade-iptables.ts';
import {
  CHAIN_COMMENT,
  changeTable,
  changeViaNetlink,
  commentForInstance,
  deleteLines,
  hashForInstance,
  MASQ_CHAIN,
  POSTROUTING,
  postroutingIntact,
  postroutingRules,
  REF,
  readTable,
  ruleAddresses,
  T,
  TABLE_COMMENT,
  tableInPlace,
  teardownHandles,
} from './masquerade-nft.ts';
import { chainsOf, type NftObject, nftQuoted, rulesOf } from './nft.ts';
import {
  addChain,
  addRule,
  addressMatch,
  addTable,
  deleteRule,
  type Expr,
  flushChain,
  type NfMessage,
  type NfRule,
  nfprotoIs,
  sameExprs,
  verdict,
} from './nftables/codec.ts';
import { listRules, netlinkOrNft } from './nftables/netlink.ts';

// ---------------------------------------------------------------- iptables (pure)

function cidrOf(s: string): Cidr {
  const p = parseIPOrCidr(s);
  if (!p) throw new CniError(ErrorCode.InvalidConfig, `masquerade: invalid address "${s}"`);
  return { ip: p.ip, prefix: p.prefix ?? bitsOf(p.ip.family) };
}

/** Pod addresses ("10.1.2.3/24"; a bare IP counts as a host prefix), in the order given. */
export const parseAddresses = (ips: string[]): Cidr[] => ips.map(cidrOf);

/** Pod addresses grouped by family, in the order given. */
export function addressesByFamily(ips: string[]): Record<Family, Cidr[]> {
  const out: Record<Family, Cidr[]> = { 4: [], 6: [] };
  for (const c of parseAddresses(ips)) out[c.ip.family].push(c);
  return out;
}

/** The rules the reference would have in the chain and in POSTROUTING for these addresses, in its order. */
export function wantedRules(network: string, containerID: string, family: Family, ips: Cidr[]): { chain: string[]; postrouting: string[] } {
  const chain = chainName(network, containerID);
  const comment = `-m comment --comment ${saveQuote(masqRuleComment(network, containerID))}`;
  const chainRules: string[] = [];
  const jumps: string[] = [];
  const unique = (list: string[], line: string) => {
    if (!list.includes(line)) list.push(line);
  };
  for (const ip of ips) {
    const net = formatCidr({ ip: networkOf(ip), prefix: ip.prefix });
    unique(chainRules, `-A ${chain} -d ${net} ${comment} -j ACCEPT`);
    unique(chainRules, `-A ${chain} ! -d ${MULTICAST_CIDR[family]} ${comment} -j MASQUERADE`);
    unique(jumps, `-A POSTROUTING -s ${formatIP(ip.ip)}/${bitsOf(family)} ${comment} -j ${chain}`);
  }
  return { chain: chainRules, postrouting: jumps };
}

/**
 * Lines that bring `state` to contain the chain and jumps for these addresses. Like the
 * reference's AppendUnique: rules already present are kept, missing ones appended.
 */
export function planSetup(network: string, containerID: string, family: Family, ips: Cidr[], state: NatState): string[] {
  if (!ips.length) return [];
  const chain = chainName(network, containerID);
  const present = new Set(state.rules.map((r) => r.line));
  const wanted = wantedRules(network, containerID, family, ips);
  const lines: string[] = [];
  // Declaring a chain in --noflush mode creates it, but would also flush an existing one.
  if (!state.chains.has(chain)) lines.push(`:${chain} - [0:0]`);
  for (const line of [...wanted.chain, ...wanted.postrouting]) if (!present.has(line)) lines.push(line);
  return lines;
}

/** ADD's fast path: create the chain (failing if it exists), fill it, append the jumps. */
export function freshSetupLines(network: string, containerID: string, family: Family, ips: Cidr[]): string[] {
  const wanted = wantedRules(network, containerID, family, ips);
  return [`-N ${chainName(network, containerID)}`, ...wanted.chain, ...wanted.postrouting];
}

/** What CHECK misses for this family (empty = all present). */
export function missingRules(network: string, containerID: string, family: Family, ips: Cidr[], state: NatState): string[] {
  if (!ips.length) return [];
  const chain = chainName(network, containerID);
  if (!state.chains.has(chain)) return [`iptables nat chain ${chain}`];
  const present = new Set(state.rules.map((r) => r.line));
  const wanted = wantedRules(network, containerID, family, ips);
  return [...wanted.chain, ...wanted.postrouting]
    .filter((l) => !present.has(l))
    .map((l) => `iptables rule "${l.replace(/ -m comment --comment .*? -j/, ' -j')}"`);
}

// ---------------------------------------------------------------- nftables (pure)

/**
 * One transaction: ensure table and chains, rebuild postrouting, replace this attachment's rules
 * (`stale` = handles of its existing rules, so a re-ADD does not duplicate them).
 */
export function setupScript(
  network: string,
  ifname: string,
  containerID: string,
  ips: string[],
  stale: number[],
  existing = false,
): string {
  const comment = nftQuoted(commentForInstance(network, ifname, containerID));
  const lines = [
    // `existing`: see setupMessages — the same deferred clean-up makes an `nft` process wait at exit.
    ...(existing
      ? []
      : [
          `add table ${T} { comment ${nftQuoted(TABLE_COMMENT)} ; }`,
          `add chain ${T} ${MASQ_CHAIN} { comment ${nftQuoted(CHAIN_COMMENT)} ; }`,
          `add chain ${T} postrouting { type nat hook postrouting priority srcnat ; }`,
          `flush chain ${T} postrouting`,
          `add rule ${T} postrouting ip daddr 224.0.0.0/4 return`,
          `add rule ${T} postrouting ip6 daddr ff00::/8 return`,
          `add rule ${T} postrouting goto ${MASQ_CHAIN}`,
        ]),
    ...deleteLines(stale),
  ];
  for (const c of parseAddresses(ips)) {
    const proto = c.ip.family === 4 ? 'ip' : 'ip6';
    const net = `${formatIP(networkOf(c))}/${c.prefix}`;
    lines.push(`add rule ${T} ${MASQ_CHAIN} ${proto} saddr ${formatIP(c.ip)} ${proto} daddr != ${net} masquerade comment ${comment}`);
  }
  return `${lines.join('\n')}\n`;
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

/** `ip[6] saddr <pod ip> ip[6] daddr != <pod network> masquerade`. */
export function masqRuleExprs(c: Cidr): Expr[] {
  const f = c.ip.family;
  return [
    ...nfprotoIs(f),
    ...addressMatch(f, 'saddr', 'eq', ipBytes(c.ip), bitsOf(f)),
    ...addressMatch(f, 'daddr', 'neq', ipBytes(networkOf(c)), c.prefix),
    { kind: 'masq' },
  ];
}

/**
 * The transaction of `setupScript`, as netlink messages. With `existing`, the table and both
 * chains are known to be there and postrouting to hold exactly its three rules, and the
 * transaction is only this attachment's rules: re-adding an existing chain is an update whose
 * clean-up the kernel defers past an RCU grace period, which the process then waits for when it
 * closes its netlink socket (~10 ms here), and flushing postrouting is a deletion (the same).
 */
export function setupMessages(
  network: string,
  ifname: string,
  containerID: string,
  ips: string[],
  stale: number[],
  existing = false,
): NfMessage[] {
  const comment = commentForInstance(network, ifname, containerID);
  return [
    ...(existing
      ? []
      : [
          addTable(REF, TABLE_COMMENT),
          addChain(REF, MASQ_CHAIN, { comment: CHAIN_COMMENT }),
          addChain(REF, POSTROUTING, { base: { type: 'nat', hook: 'postrouting', priority: 100 } }),
          flushChain(REF, POSTROUTING),
          ...postroutingRules().map((e) => addRule(REF, POSTROUTING, e)),
        ]),
    ...stale.map((h) => deleteRule(REF, MASQ_CHAIN, h)),
    ...parseAddresses(ips).map((c) => addRule(REF, MASQ_CHAIN, masqRuleExprs(c), comment)),
  ];
}

/** What CHECK misses, from the two chains as netlink dumps them (null = chain or table absent). */
export function missingNetlinkRules(
  postrouting: NfRule[] | null,
  masqChecks: NfRule[] | null,
  network: string,
  ifname: string,
  containerID: string,
  ips: string[],
): string[] {
  if (!postrouting && !masqChecks) return [`nftables table ${T}`];
  const missing: string[] = [];
  if (!postrouting) missing.push(`nftables chain ${T} postrouting`);
  else if (!postrouting.some((r) => sameExprs(r, [verdict('goto', MASQ_CHAIN)]))) {
    missing.push(`nftables rule "goto ${MASQ_CHAIN}" in ${T} postrouting`);
  }
  const comment = commentForInstance(network, ifname, containerID);
  const mine = (masqChecks ?? []).filter((r) => r.comment === comment);
  for (const c of parseAddresses(ips)) {
    if (!mine.some((r) => sameExprs(r, masqRuleExprs(c))))
      missing.push(`nftables masquerade rule for ${formatIP(c.ip)} in ${T} ${MASQ_CHAIN}`);
  }
  return missing;
}

// ---------------------------------------------------------------- ADD and CHECK (thin shell)

/** ADD for one family: the fast path, or (the chain exists: a re-ADD) the read-and-complete path. */
async function setupFamily(network: string, containerID: string, family: Family, ips: Cidr[]): Promise<void> {
  try {
    await applyNat(family, freshSetupLines(network, containerID, family, ips), 'masquerade setup');
    return;
  } catch (e) {
    if (!(e instanceof RestoreError && /already exists/i.test(e.stderr))) throw e;
  }
  await reconcile(family, 'masquerade setup', (s) => planSetup(network, containerID, family, ips, s), true);
}

/** The iptables driver's ADD and CHECK (its DEL and GC: iptablesMasqueradeRemoval). */
export const iptablesMasqueradeSetup: Pick<FirewallDriver<string[]>, 'setup' | 'missing'> = {
  async setup({ network, containerID }, ips) {
    const byFamily = addressesByFamily(ips);
    // Both families to their end before a failure is thrown: the rollback must not run while a
    // restore of the other family may still commit.
    await settleThenThrowFirst(FAMILIES.filter((f) => byFamily[f].length).map((f) => setupFamily(network, containerID, f, byFamily[f])));
  },

  async missing({ network, containerID }, ips) {
    const byFamily = addressesByFamily(ips);
    const out: string[] = [];
    for (const f of FAMILIES) {
      if (!byFamily[f].length) continue;
      const state = await readNat(f);
      out.push(...(state ? missingRules(network, containerID, f, byFamily[f], state) : [`${TOOLS[f].save} not usable`]));
    }
    return out;
  },
};

/** The nftables driver's ADD and CHECK (its DEL and GC: nftMasqueradeRemoval). */
export const nftMasqueradeSetup: Pick<FirewallDriver<string[]>, 'setup' | 'missing'> = {
  setup: async ({ network, ifname, containerID }, ips) => {
    return netlinkOrNft(
      'masquerade setup',
      () =>
        changeViaNetlink('masquerade setup', hashForInstance(network, ifname, containerID), (postrouting, masqChecks) =>
          setupMessages(
            network,
            ifname,
            containerID,
            ips,
            teardownHandles(masqChecks ?? [], network, ifname, containerID),
            !!masqChecks && !!postrouting && postroutingIntact(postrouting),
          ),
        ),
      () =>
        changeTable('masquerade setup', (objs) =>
          setupScript(
            network,
            ifname,
            containerID,
            ips,
            objs ? teardownHandles(rulesOf(objs), network, ifname, containerID) : [],
            tableInPlace(objs),
          ),
        ),
    );
  },

  missing: async ({ network, ifname, containerID }, ips) => {
    return netlinkOrNft(
      'masquerade check',
      () =>
        missingNetlinkRules(
          listRules(REF, POSTROUTING),
          listRules(REF, MASQ_CHAIN, commentForInstance(network, ifname, containerID)),
          network,
          ifname,
          containerID,
          ips,
        ),
      async () => missingNftRules(await readTable(), network, ifname, containerID, ips),
    );
  },
};
