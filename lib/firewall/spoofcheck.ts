// MAC spoof check (bridge `macspoofchk`), in the reference layout (containernetworking/plugins
// pkg/link/spoofcheck.go) so either implementation can remove what the other made:
//   table bridge nat
//     chain PREROUTING  (filter, hook prerouting, priority -300, policy accept)
//         iifname "<host veth>" jump cni-br-iface-<id>-<ifname>
//     chain cni-br-iface-<id>-<ifname>        jump cni-br-iface-<id>-<ifname>-mac
//     chain cni-br-iface-<id>-<ifname>-mac    ether saddr == <mac> return ; drop
//   every rule commented "macspoofchk-<id>-<ifname>".
// The standalone build sends the same transactions over netlink (lib/firewall/nftables/; unit-tested
// byte for byte against nft) and reads only PREROUTING and the attachment's own chains. The Node
// build's scripts use nft's JSON syntax (as the reference does): names travel as JSON strings, so a
// container ID never meets the text parser. One `nft -j -f -` transaction per change.
import { CniError, ErrorCode } from '../cni/errors.ts';
import { links } from '../kernel/iproute.ts';
import { macBytes } from '../kernel/netlink-codec.ts';
import { HOST } from '../kernel/shapes.ts';
import { readPlanApply } from './driver.ts';
import { chainsOf, NftError, type NftObject, type NftRule, nftApply, nftList, type RuleRef, rulesOf } from './nft.ts';
import {
  addChain,
  addRule,
  addTable,
  deleteChain,
  deleteRule,
  type Expr,
  etherSaddrIs,
  flushChain,
  iifnameIs,
  type NfMessage,
  type NfRule,
  sameExprs,
  type TableRef,
  verdict,
} from './nftables/codec.ts';
import { chainExists, listRules, NfError, netlinkOrNft, transact } from './nftables/netlink.ts';

const FAMILY = 'bridge';
const TABLE = 'nat';
const BASE_CHAIN = 'PREROUTING';
const IFACE_PREFIX = 'cni-br-iface-';
const COMMENT_PREFIX = 'macspoofchk-';

// ---------------------------------------------------------------- names (pure)

export const refID = (containerID: string, ifname: string): string => `${containerID}-${ifname}`;
export const ifaceChainName = (ref: string): string => `${IFACE_PREFIX}${ref}`;
export const macChainName = (ref: string): string => `${IFACE_PREFIX}${ref}-mac`;
export const spoofRuleComment = (ref: string): string => `${COMMENT_PREFIX}${ref}`;

// ---------------------------------------------------------------- scripts (pure)

type Cmd = Record<string, Record<string, unknown>>;
const at = { family: FAMILY, table: TABLE };
const chain = (name: string) => ({ chain: { ...at, name } });
const rule = (chainName: string, ref: string, expr: unknown[]) => ({
  rule: { ...at, chain: chainName, comment: spoofRuleComment(ref), expr },
});

export const jsonScript = (cmds: Cmd[]): string => JSON.stringify({ nftables: cmds });

function attachmentRules(ref: string, hostVeth: string, mac: string): Cmd[] {
  const iface = ifaceChainName(ref);
  const macChain = macChainName(ref);
  return [
    {
      add: rule(BASE_CHAIN, ref, [
        { match: { op: '==', left: { meta: { key: 'iifname' } }, right: hostVeth } },
        { jump: { target: iface } },
      ]),
    },
    { add: rule(iface, ref, [{ jump: { target: macChain } }]) },
    {
      add: rule(macChain, ref, [
        { match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: mac.toLowerCase() } },
        { return: null },
      ]),
    },
    { add: rule(macChain, ref, [{ drop: null }]) },
  ];
}

const tableAndBase = (): Cmd[] => [
  { add: { table: { ...at, name: TABLE } } },
  { add: { chain: { ...at, name: BASE_CHAIN, type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } },
];

/**
 * The common case in one transaction: `create` fails with "File exists" when the attachment's
 * chains are already there, leaving the ruleset untouched, and the caller then repairs instead.
 */
export function freshSetupScript(containerID: string, ifname: string, hostVeth: string, mac: string): string {
  const ref = refID(containerID, ifname);
  return jsonScript([
    ...tableAndBase(),
    { create: chain(ifaceChainName(ref)) },
    { create: chain(macChainName(ref)) },
    ...attachmentRules(ref, hostVeth, mac),
  ]);
}

/** Re-ADD: drop this attachment's jump rules (by handle), refill its chains. */
export function repairSetupScript(containerID: string, ifname: string, hostVeth: string, mac: string, table: NftObject[]): string {
  const ref = refID(containerID, ifname);
  return jsonScript([
    ...tableAndBase(),
    { add: chain(ifaceChainName(ref)) },
    { add: chain(macChainName(ref)) },
    ...baseRuleHandles(rulesOf(table), ref).map((handle) => ({ delete: { rule: { ...at, chain: BASE_CHAIN, handle } } })),
    { flush: chain(ifaceChainName(ref)) },
    { flush: chain(macChainName(ref)) },
    ...attachmentRules(ref, hostVeth, mac),
  ]);
}

/** PREROUTING rules carrying this attachment's comment (the reference deletes them all). */
const baseRuleHandles = (rules: RuleRef[], ref: string): number[] =>
  rules.filter((r) => r.chain === BASE_CHAIN && r.comment === spoofRuleComment(ref)).map((r) => r.handle);

/** Remove these attachments' rules and chains; null when none of it exists. */
export function teardownScript(table: NftObject[], refs: string[]): string | null {
  const rules = rulesOf(table);
  const chains = new Set(chainsOf(table).map((c) => c.name));
  const cmds: Cmd[] = [];
  for (const ref of refs) {
    for (const handle of baseRuleHandles(rules, ref)) cmds.push({ delete: { rule: { ...at, chain: BASE_CHAIN, handle } } });
  }
  for (const ref of refs) {
    // The iface chain's rule references the mac chain: flush both, then delete iface first.
    const present = [ifaceChainName(ref), macChainName(ref)].filter((c) => chains.has(c));
    for (const c of present) cmds.push({ flush: chain(c) });
    for (const c of present) cmds.push({ delete: chain(c) });
  }
  return cmds.length ? jsonScript(cmds) : null;
}

/**
 * GC: attachments (identified by rule comments) not in `valid` whose host veth is gone.
 * The table is shared by every network using macspoofchk and its names carry no network, so
 * an attachment is only removed when its PREROUTING rule is missing or names an interface that
 * no longer exists: a live attachment of another network is never touched.
 */
export function staleRefs(table: NftObject[], valid: { containerID: string; ifname: string }[], hostLinks: Set<string>): string[] {
  const keep = new Set(valid.map((a) => refID(a.containerID, a.ifname)));
  const refs = new Map<string, string | undefined>(); // ref → iifname of its PREROUTING rule
  for (const r of rulesOf(table)) {
    if (!r.comment?.startsWith(COMMENT_PREFIX)) continue;
    const ref = r.comment.slice(COMMENT_PREFIX.length);
    if (!refs.has(ref)) refs.set(ref, undefined);
    if (r.chain === BASE_CHAIN) refs.set(ref, iifnameOf(r));
  }
  return [...refs]
    .filter(([ref, iif]) => !keep.has(ref) && (iif === undefined || !hostLinks.has(iif)))
    .map(([ref]) => ref)
    .sort();
}

const iifnameOf = (r: NftRule): string | undefined =>
  (r.expr ?? []).find((e) => e?.match?.left?.meta?.key === 'iifname')?.match?.right as string | undefined;

/** What CHECK misses (empty = all there). */
export function missingSpoofRules(table: NftObject[] | null, containerID: string, ifname: string, hostVeth: string, mac: string): string[] {
  if (!table) return [`nftables table ${FAMILY} ${TABLE}`];
  const ref = refID(containerID, ifname);
  const rules = rulesOf(table).filter((r) => r.comment === spoofRuleComment(ref));
  const jumpsTo = (r: NftRule, target: string) => (r.expr ?? []).some((e) => e?.jump?.target === target);
  const missing: string[] = [];
  if (!rules.some((r) => r.chain === BASE_CHAIN && iifnameOf(r) === hostVeth && jumpsTo(r, ifaceChainName(ref)))) {
    missing.push(`rule 'iifname "${hostVeth}" jump ${ifaceChainName(ref)}' in ${BASE_CHAIN}`);
  }
  if (!rules.some((r) => r.chain === ifaceChainName(ref) && jumpsTo(r, macChainName(ref)))) missing.push(`chain ${ifaceChainName(ref)}`);
  const macRules = rules.filter((r) => r.chain === macChainName(ref));
  const allows = macRules.some((r) =>
    (r.expr ?? []).some((e) => e?.match?.left?.payload?.field === 'saddr' && String(e.match.right).toLowerCase() === mac.toLowerCase()),
  );
  if (!allows) missing.push(`rule 'ether saddr ${mac.toLowerCase()} return' in ${macChainName(ref)}`);
  if (!macRules.some((r) => (r.expr ?? []).some((e) => e && 'drop' in e))) missing.push(`drop rule in ${macChainName(ref)}`);
  return missing;
}

// ---------------------------------------------------------------- netlink messages (pure)

const REF: TableRef = { family: FAMILY, table: TABLE };

/** The attachment's four rules, chain by chain, as the JSON script above writes them. */
function ruleSpecs(ref: string, hostVeth: string, mac: string): Array<[chain: string, exprs: Expr[]]> {
  return [
    [BASE_CHAIN, [...iifnameIs(hostVeth), verdict('jump', ifaceChainName(ref))]],
    [ifaceChainName(ref), [verdict('jump', macChainName(ref))]],
    [macChainName(ref), [...etherSaddrIs(macBytes(mac)), verdict('return')]],
    [macChainName(ref), [verdict('drop')]],
  ];
}

/**
 * The table and its base chain, unless known to exist: re-adding an existing base chain is an
 * update whose clean-up the kernel defers past an RCU grace period, which this process would then
 * wait for when it closes its netlink socket.
 */
const tableAndBaseMessages = (baseExists = false): NfMessage[] =>
  baseExists
    ? []
    : [addTable(REF), addChain(REF, BASE_CHAIN, { base: { type: 'filter', hook: 'prerouting', priority: -300, policy: 'accept' } })];

const ruleMessages = (ref: string, hostVeth: string, mac: string): NfMessage[] =>
  ruleSpecs(ref, hostVeth, mac).map(([c, exprs]) => addRule(REF, c, exprs, spoofRuleComment(ref)));

/** `freshSetupScript` as netlink messages: fails with EEXIST when the attachment's chains exist. */
export function freshSetupMessages(containerID: string, ifname: string, hostVeth: string, mac: string, baseExists = false): NfMessage[] {
  const ref = refID(containerID, ifname);
  return [
    ...tableAndBaseMessages(baseExists),
    addChain(REF, ifaceChainName(ref), { exclusive: true }),
    addChain(REF, macChainName(ref), { exclusive: true }),
    ...ruleMessages(ref, hostVeth, mac),
  ];
}

/** `repairSetupScript` as netlink messages, given PREROUTING's rules. */
export function repairSetupMessages(containerID: string, ifname: string, hostVeth: string, mac: string, prerouting: NfRule[]): NfMessage[] {
  const ref = refID(containerID, ifname);
  return [
    ...tableAndBaseMessages(),
    addChain(REF, ifaceChainName(ref)),
    addChain(REF, macChainName(ref)),
    ...baseRuleHandles(prerouting, ref).map((h) => deleteRule(REF, BASE_CHAIN, h)),
    flushChain(REF, ifaceChainName(ref)),
    flushChain(REF, macChainName(ref)),
    ...ruleMessages(ref, hostVeth, mac),
  ];
}

/** `teardownScript` as netlink messages for one attachment; null when none of it exists. */
export function teardownMessages(ref: string, prerouting: NfRule[], present: { iface: boolean; mac: boolean }): NfMessage[] | null {
  const chains = [present.iface && ifaceChainName(ref), present.mac && macChainName(ref)].filter((c): c is string => !!c);
  const msgs = [
    ...baseRuleHandles(prerouting, ref).map((h) => deleteRule(REF, BASE_CHAIN, h)),
    ...chains.map((c) => flushChain(REF, c)),
    ...chains.map((c) => deleteChain(REF, c)),
  ];
  return msgs.length ? msgs : null;
}

/** What CHECK misses, from the three chains as netlink dumps them. */
export function missingNetlinkSpoofRules(
  rulesIn: (chain: string) => NfRule[] | null,
  containerID: string,
  ifname: string,
  hostVeth: string,
  mac: string,
): string[] {
  const ref = refID(containerID, ifname);
  const base = rulesIn(BASE_CHAIN);
  if (!base) return [`nftables table ${FAMILY} ${TABLE}`];
  const [jump, toMac, allow, drop] = ruleSpecs(ref, hostVeth, mac);
  const has = (rules: NfRule[] | null, exprs: Expr[]) =>
    (rules ?? []).some((r) => r.comment === spoofRuleComment(ref) && sameExprs(r, exprs));
  const missing: string[] = [];
  if (!has(base, jump![1])) missing.push(`rule 'iifname "${hostVeth}" jump ${ifaceChainName(ref)}' in ${BASE_CHAIN}`);
  if (!has(rulesIn(ifaceChainName(ref)), toMac![1])) missing.push(`chain ${ifaceChainName(ref)}`);
  const macRules = rulesIn(macChainName(ref));
  if (!has(macRules, allow![1])) missing.push(`rule 'ether saddr ${mac.toLowerCase()} return' in ${macChainName(ref)}`);
  if (!has(macRules, drop![1])) missing.push(`drop rule in ${macChainName(ref)}`);
  return missing;
}

/** Tear down one attachment over netlink: its PREROUTING rules are read by comment, its chains looked up by name. */
function teardownViaNetlink(ref: string, what: string): Promise<void> {
  return readPlanApply({
    read: async () => listRules(REF, BASE_CHAIN, spoofRuleComment(ref)),
    // Without the base chain (removed by hand, or an older kernel answering null for it) the
    // attachment's own chains are still looked up: they may have outlived it.
    plan: (prerouting) =>
      teardownMessages(ref, prerouting ?? [], { iface: chainExists(REF, ifaceChainName(ref)), mac: chainExists(REF, macChainName(ref)) }),
    apply: async (msgs) => transact(what, msgs),
  });
}

// ---------------------------------------------------------------- kernel (thin shell)

const readTable = (): Promise<NftObject[] | null> => nftList(['table', FAMILY, TABLE]);

export const setupSpoofCheck = (containerID: string, ifname: string, hostVeth: string, mac: string): Promise<void> =>
  netlinkOrNft(
    'spoof check setup',
    () => {
      try {
        const baseExists = chainExists(REF, BASE_CHAIN);
        try {
          transact('spoof check setup', freshSetupMessages(containerID, ifname, hostVeth, mac, baseExists));
        } catch (e) {
          // The table went away between the look-up and the write: make it too.
          if (!(baseExists && e instanceof NfError && e.missing)) throw e;
          transact('spoof check setup', freshSetupMessages(containerID, ifname, hostVeth, mac));
        }
      } catch (e) {
        if (!(e instanceof NfError && e.exists)) throw e;
        transact(
          'spoof check setup',
          repairSetupMessages(
            containerID,
            ifname,
            hostVeth,
            mac,
            listRules(REF, BASE_CHAIN, spoofRuleComment(refID(containerID, ifname))) ?? [],
          ),
        );
      }
    },
    async () => {
      try {
        await nftApply('spoof check setup', freshSetupScript(containerID, ifname, hostVeth, mac), { json: true });
      } catch (e) {
        if (!(e instanceof NftError && e.exists)) throw e;
        const table = (await readTable()) ?? [];
        await nftApply('spoof check setup', repairSetupScript(containerID, ifname, hostVeth, mac, table), { json: true });
      }
    },
  );

/** Absent rules, chains or table are not an error. */
export const teardownSpoofCheck = (containerID: string, ifname: string): Promise<void> =>
  netlinkOrNft(
    'spoof check teardown',
    () => teardownViaNetlink(refID(containerID, ifname), 'spoof check teardown'),
    () => removeRefs(() => [refID(containerID, ifname)], 'spoof check teardown'),
  );

export async function checkSpoofCheck(containerID: string, ifname: string, hostVeth: string, mac: string): Promise<void> {
  const missing = await netlinkOrNft(
    'spoof check',
    () =>
      missingNetlinkSpoofRules((c) => listRules(REF, c, spoofRuleComment(refID(containerID, ifname))), containerID, ifname, hostVeth, mac),
    async () => missingSpoofRules(await readTable(), containerID, ifname, hostVeth, mac),
  );
  if (missing.length)
    throw new CniError(ErrorCode.CheckFailed, `MAC spoof check for ${containerID}/${ifname} incomplete: missing ${missing.join(', ')}`);
}

/** GC reads the whole table (in either build): it must see every attachment to find the stale ones. */
export async function gcSpoofCheck(valid: { containerID: string; ifname: string }[]): Promise<void> {
  const hostLinks = new Set((await links(HOST)).map((l) => l.ifname));
  await removeRefs((table) => staleRefs(table, valid, hostLinks), 'spoof check GC');
}

/** Read, plan, write; again when a concurrent change invalidated a handle. */
const removeRefs = (pick: (table: NftObject[]) => string[], what: string): Promise<void> =>
  readPlanApply({
    read: readTable,
    plan: (table) => (table ? teardownScript(table, pick(table)) : null),
    apply: (script) => nftApply(what, script, { json: true }),
  });
