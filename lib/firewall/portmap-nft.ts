// Host ports with nftables, in the newest reference portmap's layout (plugins/meta/portmap
// portmap_nftables.go), so either implementation's DEL and CHECK work on the other's state:
//   table ip cni_hostport / table ip6 cni_hostport  (comment "CNI portmap plugin")
//     chain prerouting   nat hook prerouting, priority -100:  <conditions> fib daddr type local jump hostports_all
//     chain output       nat hook output, priority -100:      the same
//     chain hostports_all   jump hostip_hostports; jump hostports
//     chain hostports       per mapping: [ip daddr <hostIP>] <proto> dport <hostPort> dnat to <pod>:<port>
//     chain hostip_hostports   empty (older versions put hostIP rules here; DEL still looks)
//     chain masquerading nat hook postrouting, priority 100 (snat): per attachment
//         ip saddr <source> ip daddr <pod> masquerade (+ from 127.0.0.1 for IPv4)
// Per-attachment rules carry the container ID as their comment, which is how DEL finds them: no
// addresses needed. Differences from the reference, all readable by it: the hairpin masquerade's
// source is the pod's network (as in the iptables layout) instead of the pod's own address, so a
// pod reaches another pod's host port too; a repeated ADD replaces the attachment's rules instead
// of adding a second set (and writes nothing when they are already what it wants); the hook chains
// and hostports_all are rewritten only when they are not what this ADD wants (the reference
// flushes and rewrites them on every ADD: the resulting state is the same).
//
// One model of a rule (`RuleFacts`: what it matches and does) is read from either source — nft's
// JSON in the Node build, the kernel's netlink dump in the standalone build — and written to either
// sink — nft text, or nf_tables messages (unit-tested byte for byte against nft) — so both builds
// plan with the same code and leave the same text in `nft list`. The standalone build reads only
// the chains it judges (of the three that hold a rule per pod, only the attachment's rules, picked
// by their comment on the dump's bytes) and writes one transaction, or nothing. Conditions are free
// nft text, which only nft can parse: an ADD with conditions runs `nft` (saying so on stderr).
// This module is the layout, reading rules, plans without addresses, DEL and GC; what ADD and CHECK
// want for the pod's addresses is in portmap-nft-setup.ts, loaded for ADD and CHECK only.
import { formatAddress } from '../kernel/netlink-codec.ts';
import type { Family } from '../net/address.ts';
import { type FirewallDriver, readPlanApply } from './driver.ts';
import { type NftObject, type NftRule, nftApply, nftList, nftQuoted, rulesOf } from './nft.ts';
import {
  addChain,
  addRule,
  addTable,
  type BaseChainSpec,
  CMP_OP,
  deleteRule,
  type Expr,
  FIB_FLAG,
  FIB_RESULT,
  flushChain,
  L4PROTO,
  META_KEY,
  NAT_FLAG,
  NAT_TYPE,
  type NfMessage,
  PAYLOAD_BASE,
  REG1,
  REG2,
  RTN,
  type TableRef,
} from './nftables/codec.ts';
import { chainExists, listRules, available as netlinkAvailable, netlinkOrNft, transact } from './nftables/netlink.ts';
import { FAMILIES, type HostportWant, joinHostPort } from './portmap-want.ts';

export const TABLE = 'cni_hostport';
const TABLE_COMMENT = 'CNI portmap plugin';
/** Chains that hold per-attachment rules (a rule per pod and host port: never read whole). */
const ATTACHMENT_CHAINS = ['hostports', 'hostip_hostports', 'masquerading'] as const;
export const HOOKS = ['prerouting', 'output'] as const;
/** Chains of a rule or two, read whole to see whether they are what an ADD wants. */
export type SmallChain = 'hostports_all' | (typeof HOOKS)[number];
const SMALL_CHAINS: readonly SmallChain[] = ['hostports_all', ...HOOKS];
export const BASE_CHAINS: Record<'prerouting' | 'output' | 'masquerading', BaseChainSpec> = {
  prerouting: { type: 'nat', hook: 'prerouting', priority: -100 },
  output: { type: 'nat', hook: 'output', priority: -100 },
  masquerading: { type: 'nat', hook: 'postrouting', priority: 100 },
};

export const nftFamily = (f: Family): 'ip' | 'ip6' => (f === 4 ? 'ip' : 'ip6');
export const tableOf = (f: Family): string => `${nftFamily(f)} ${TABLE}`;
const refOf = (f: Family): TableRef => ({ family: nftFamily(f), table: TABLE });

// ---------------------------------------------------------------- rules (pure)

/**
 * What a rule of this layout matches and does. Addresses are text as nft prints them (an address,
 * or `<network>/<prefix>`). `other` counts whatever is outside this model (user conditions, forms
 * of older versions), so such a rule never equals one of ours.
 */
export interface RuleFacts {
  saddr?: string;
  daddr?: string;
  protocol?: string;
  dport?: number;
  fibLocal?: boolean;
  dnat?: { addr?: string; port?: number };
  masquerade?: boolean;
  jump?: string;
  other?: number;
}

/** Whether two rules do the same thing. */
export function sameFacts(a: RuleFacts, b: RuleFacts): boolean {
  return (
    a.saddr === b.saddr &&
    a.daddr === b.daddr &&
    a.protocol === b.protocol &&
    a.dport === b.dport &&
    !!a.fibLocal === !!b.fibLocal &&
    a.dnat?.addr === b.dnat?.addr &&
    a.dnat?.port === b.dnat?.port &&
    !!a.masquerade === !!b.masquerade &&
    a.jump === b.jump &&
    (a.other ?? 0) === (b.other ?? 0)
  );
}

export const sameList = (rules: readonly RuleFacts[], wanted: readonly RuleFacts[]): boolean =>
  rules.length === wanted.length && rules.every((r, i) => sameFacts(r, wanted[i]!));

/** A rule as nft text, its matches in the order nft prints them. */
export function ruleText(family: Family, r: RuleFacts): string {
  const ipv = nftFamily(family);
  const parts: string[] = [];
  if (r.saddr !== undefined) parts.push(`${ipv} saddr ${r.saddr}`);
  if (r.daddr !== undefined) parts.push(`${ipv} daddr ${r.daddr}`);
  if (r.protocol !== undefined) parts.push(`${r.protocol} dport ${r.dport}`);
  if (r.fibLocal) parts.push('fib daddr type local');
  if (r.dnat) parts.push(`dnat to ${joinHostPort(r.dnat.addr ?? '', r.dnat.port ?? 0)}`);
  if (r.masquerade) parts.push('masquerade');
  if (r.jump !== undefined) parts.push(`jump ${r.jump}`);
  return parts.join(' ');
}

const matchValue = (right: unknown): string | number | undefined => {
  if (typeof right === 'string' || typeof right === 'number') return right;
  const prefix = (right as { prefix?: { addr?: string; len?: number } } | null)?.prefix;
  return prefix ? `${prefix.addr}/${prefix.len}` : undefined;
};

/** The facts of a rule as `nft -j` prints it. */
export function ruleFacts(rule: NftRule): RuleFacts {
  const facts: RuleFacts = {};
  const other = () => {
    facts.other = (facts.other ?? 0) + 1;
  };
  for (const e of rule.expr ?? []) {
    const m = e?.match;
    const payload = m?.left?.payload;
    if (m && m.op === '==' && payload?.field === 'dport' && typeof m.right === 'number') {
      facts.protocol = payload.protocol;
      facts.dport = m.right;
    } else if (m && m.op === '==' && (payload?.field === 'saddr' || payload?.field === 'daddr')) {
      facts[payload.field as 'saddr' | 'daddr'] = String(matchValue(m.right));
    } else if (m?.left?.fib && m.op === '==' && m.right === 'local') {
      facts.fibLocal = true;
    } else if (m) {
      other();
    } else if (e?.dnat) {
      facts.dnat = { addr: e.dnat.addr, port: e.dnat.port };
    } else if (e && 'masquerade' in e) {
      facts.masquerade = true;
    } else if (e?.jump) {
      facts.jump = e.jump.target;
    } else {
      other();
    }
  }
  return facts;
}

const PROTOCOL_NAMES = new Map<number, string>(Object.entries(L4PROTO).map(([k, v]) => [v, k]));
type ExprOf<K extends Expr['kind']> = Extract<Expr, { kind: K }>;
const isCmpEq = (e: Expr | undefined, len: number): e is ExprOf<'cmp'> =>
  e?.kind === 'cmp' && e.op === CMP_OP.eq && e.sreg === REG1 && e.data.length === len;
const be16 = (b: Uint8Array): number => (b[0]! << 8) | b[1]!;

/** The prefix length of a contiguous network mask; undefined for any other mask. */
function maskPrefix(mask: Uint8Array): number | undefined {
  let bits = 0;
  while (bits < mask.length * 8 && mask[bits >> 3]! & (0x80 >> (bits & 7))) bits++;
  for (let i = bits; i < mask.length * 8; i++) if (mask[i >> 3]! & (0x80 >> (i & 7))) return undefined;
  return bits;
}

/**
 * The facts of a rule from its expressions as the kernel dumps them: the forms `ruleExprs` writes
 * (which are nft's), read back; each expression outside them counts as `other`.
 */
export function exprFacts(family: Family, exprs: readonly Expr[]): RuleFacts {
  const facts: RuleFacts = {};
  const l3 = family === 4 ? { saddr: 12, daddr: 16, bytes: 4 } : { saddr: 8, daddr: 24, bytes: 16 };
  for (let i = 0; i < exprs.length; i++) {
    const e = exprs[i]!;
    const [n1, n2, n3] = [exprs[i + 1], exprs[i + 2], exprs[i + 3]];
    if (e.kind === 'payload' && e.base === PAYLOAD_BASE.network && e.dreg === REG1 && (e.offset === l3.saddr || e.offset === l3.daddr)) {
      // A whole address, a byte-aligned prefix (only its bytes loaded), or a masked address.
      const masked = n1?.kind === 'bitwise' && n1.sreg === REG1 && n1.dreg === REG1 && n1.xor.every((x) => x === 0);
      const prefix = masked ? maskPrefix(n1.mask) : e.len * 8;
      const cmp = masked ? n2 : n1;
      if (prefix !== undefined && e.len <= l3.bytes && isCmpEq(cmp, e.len) && (!masked || e.len === l3.bytes)) {
        const full = new Uint8Array(l3.bytes);
        full.set(cmp.data);
        const addr = formatAddress(full);
        facts[e.offset === l3.saddr ? 'saddr' : 'daddr'] = prefix === l3.bytes * 8 ? addr : `${addr}/${prefix}`;
        i += masked ? 2 : 1;
        continue;
      }
    } else if (
      e.kind === 'meta' &&
      e.key === META_KEY.l4proto &&
      e.dreg === REG1 &&
      isCmpEq(n1, 1) &&
      PROTOCOL_NAMES.has(n1.data[0]!) &&
      n2?.kind === 'payload' &&
      n2.base === PAYLOAD_BASE.transport &&
      n2.offset === 2 &&
      n2.len === 2 &&
      n2.dreg === REG1 &&
      isCmpEq(n3, 2)
    ) {
      facts.protocol = PROTOCOL_NAMES.get(n1.data[0]!);
      facts.dport = be16(n3.data);
      i += 3;
      continue;
    } else if (
      e.kind === 'fib' &&
      e.result === FIB_RESULT.addrtype &&
      e.flags === FIB_FLAG.daddr &&
      e.dreg === REG1 &&
      isCmpEq(n1, 4) &&
      new DataView(n1.data.buffer, n1.data.byteOffset, 4).getUint32(0, true) === RTN.local
    ) {
      facts.fibLocal = true;
      i += 1;
      continue;
    } else if (
      e.kind === 'immediate' &&
      e.dreg === REG1 &&
      e.data.length === l3.bytes &&
      n1?.kind === 'immediate' &&
      n1.dreg === REG2 &&
      n1.data.length === 2 &&
      n2?.kind === 'nat' &&
      n2.type === NAT_TYPE.dnat &&
      n2.family === (family === 4 ? 2 : 10) &&
      n2.addrReg === REG1 &&
      n2.protoReg === REG2 &&
      ((n2.flags ?? 0) | NAT_FLAG.mapIPs) === (NAT_FLAG.mapIPs | NAT_FLAG.protoSpecified)
    ) {
      facts.dnat = { addr: formatAddress(e.data), port: be16(n1.data) };
      i += 2;
      continue;
    } else if (e.kind === 'masq') {
      facts.masquerade = true;
      continue;
    } else if (e.kind === 'verdict' && e.verdict === 'jump' && e.chain !== undefined) {
      facts.jump = e.chain;
      continue;
    }
    facts.other = (facts.other ?? 0) + 1;
  }
  return facts;
}

export const DISPATCH: RuleFacts[] = [{ jump: 'hostip_hostports' }, { jump: 'hostports' }];
export const HOOK_JUMP: RuleFacts = { fibLocal: true, jump: 'hostports_all' };

/** A rule of the attachment, where it goes. */
export interface PlacedRule {
  family: Family;
  chain: string;
  facts: RuleFacts;
}

// ---------------------------------------------------------------- state, as either build reads it (pure)

/** One family's table, as much of it as a plan needs. */
export interface FamilyView {
  /** Chains of the table that exist (none: no table). */
  chains: ReadonlySet<string>;
  /** The rules of hostports_all, prerouting and output. */
  small: Record<SmallChain, RuleFacts[]>;
  /** The attachment's rules (comment = container ID) in hostports, hostip_hostports and masquerading, in that order. */
  mine: Array<{ chain: string; handle: number; facts: RuleFacts }>;
}
export type Views = Record<Family, FamilyView>;

const emptySmall = (): Record<SmallChain, RuleFacts[]> => ({ hostports_all: [], prerouting: [], output: [] });
export const NO_TABLE: FamilyView = { chains: new Set(), small: emptySmall(), mine: [] };

/** A family's view from `nft -j list table <family> cni_hostport` (null: no table). */
export function viewOfJson(objs: NftObject[] | null, containerID: string): FamilyView {
  if (!objs) return NO_TABLE;
  const rules = rulesOf(objs);
  const small = emptySmall();
  for (const c of SMALL_CHAINS) small[c] = rules.filter((r) => r.chain === c).map(ruleFacts);
  return {
    chains: new Set(objs.filter((o) => o.chain).map((o) => String(o.chain!.name))),
    small,
    mine: ATTACHMENT_CHAINS.flatMap((c) =>
      rules.filter((r) => r.chain === c && r.comment === containerID).map((r) => ({ chain: c, handle: r.handle, facts: ruleFacts(r) })),
    ),
  };
}

// ---------------------------------------------------------------- plans (pure)

/** One change; a plan is a list of them, written as one transaction. */
export type Step =
  | { op: 'table'; family: Family }
  /** Created exclusively: when a concurrent ADD made it first, the transaction fails and is planned again. */
  | { op: 'chain'; family: Family; chain: string; base?: BaseChainSpec }
  | { op: 'flush'; family: Family; chain: string }
  | { op: 'rule'; family: Family; chain: string; facts: RuleFacts; conditions?: string[]; comment?: string }
  | { op: 'delete'; family: Family; chain: string; handle: number };

export const deletions = (views: Views): Step[] =>
  FAMILIES.flatMap((f) => views[f].mine.map((r): Step => ({ op: 'delete', family: f, chain: r.chain, handle: r.handle })));

/** What a DEL changes: the attachment's rules deleted (tables and chains stay); null when it has none. */
export function planTeardown(views: Views): Step[] | null {
  const steps = deletions(views);
  return steps.length ? steps : null;
}

// ---------------------------------------------------------------- writing a plan (pure)

/** A plan as one `nft -f` script. */
export const stepsScript = (steps: readonly Step[]): string => `${steps.map(stepLine).join('\n')}\n`;

function stepLine(s: Step): string {
  const t = tableOf(s.family);
  switch (s.op) {
    case 'table':
      return `add table ${t} { comment ${nftQuoted(TABLE_COMMENT)} ; }`;
    case 'chain': {
      const b = s.base;
      return `create chain ${t} ${s.chain}${b ? ` { type ${b.type} hook ${b.hook} priority ${b.priority} ; }` : ''}`;
    }
    case 'flush':
      return `flush chain ${t} ${s.chain}`;
    case 'rule': {
      const text = [...(s.conditions ?? []), ruleText(s.family, s.facts)].join(' ');
      return `add rule ${t} ${s.chain} ${text}${s.comment === undefined ? '' : ` comment ${nftQuoted(s.comment)}`}`;
    }
    case 'delete':
      return `delete rule ${t} ${s.chain} handle ${s.handle}`;
  }
}

/** How a rule's facts become expressions: ADD's module brings it (it parses addresses); a DEL writes no rules. */
export type RuleEncoder = (family: Family, facts: RuleFacts) => Expr[];
const noRules: RuleEncoder = () => {
  throw new Error('no rule encoder: this plan was not expected to add rules');
};

/** The same plan as nf_tables messages (conditions, being nft text, cannot be: the caller runs nft for them). */
export const stepsMessages = (steps: readonly Step[], encode: RuleEncoder = noRules): NfMessage[] =>
  steps.map((s) => stepMessage(s, encode));

function stepMessage(s: Step, encode: RuleEncoder): NfMessage {
  const ref = refOf(s.family);
  switch (s.op) {
    case 'table':
      return addTable(ref, TABLE_COMMENT);
    case 'chain':
      return addChain(ref, s.chain, { ...(s.base ? { base: s.base } : {}), exclusive: true });
    case 'flush':
      return flushChain(ref, s.chain);
    case 'rule':
      if (s.conditions?.length) throw new Error('nftables conditions are nft text: not encodable');
      return addRule(ref, s.chain, encode(s.family, s.facts), s.comment);
    case 'delete':
      return deleteRule(ref, s.chain, s.handle);
  }
}

// ---------------------------------------------------------------- kernel (thin shell)

/**
 * One family's view over netlink: of the per-pod chains only the attachment's rules (exact
 * comment, tested on the dump's bytes); with `whole`, also the small chains' rules and which
 * chains exist (a dump of a missing chain is just empty, so a chain no rule was seen in is asked
 * for by name). DEL needs neither.
 */
function readViewViaNetlink(family: Family, containerID: string, whole: boolean): FamilyView {
  const ref = refOf(family);
  const seen = new Set<string>();
  const mine: FamilyView['mine'] = [];
  const small = emptySmall();
  for (const chain of ATTACHMENT_CHAINS) {
    for (const r of listRules(ref, chain, { comment: containerID }) ?? []) {
      seen.add(chain);
      mine.push({ chain, handle: r.handle, facts: exprFacts(family, r.exprs) });
    }
  }
  if (!whole) return { chains: seen, small, mine };
  for (const chain of SMALL_CHAINS) {
    small[chain] = (listRules(ref, chain) ?? []).map((r) => exprFacts(family, r.exprs));
    if (small[chain].length) seen.add(chain);
  }
  const chains = new Set([...ATTACHMENT_CHAINS, ...SMALL_CHAINS].filter((c) => seen.has(c) || chainExists(ref, c)));
  return { chains, small, mine };
}

/** Views of both families; the small chains only of `families` (the ones an ADD or CHECK writes or judges). */
export const readViewsViaNetlink = async (containerID: string, families: readonly Family[]): Promise<Views> => ({
  4: readViewViaNetlink(4, containerID, families.includes(4)),
  6: readViewViaNetlink(6, containerID, families.includes(6)),
});

/**
 * The family's table holds none of the chains an attachment's rules live in, as the standalone
 * build can ask nf_tables directly (no `nft` process); false when that cannot be told.
 */
function surelyEmpty(f: Family): boolean {
  if (!netlinkAvailable()) return false;
  try {
    return ATTACHMENT_CHAINS.every((c) => !chainExists(refOf(f), c));
  } catch {
    return false;
  }
}

/** Both tables through `nft -j list table …`; one that surely holds nothing of any attachment is not listed. */
export async function readViewsViaNft(containerID: string): Promise<Views> {
  const [v4, v6] = await Promise.all(FAMILIES.map((f) => (surelyEmpty(f) ? null : nftList(['table', nftFamily(f), TABLE]))));
  return { 4: viewOfJson(v4 ?? null, containerID), 6: viewOfJson(v6 ?? null, containerID) };
}

/** Read, plan, write one transaction (nothing when the plan is null); again when a concurrent change got in between. */
export function change(
  what: string,
  containerID: string,
  families: readonly Family[],
  plan: (views: Views) => Step[] | null,
  encode?: RuleEncoder,
): Promise<void> {
  const viaNft = () =>
    readPlanApply({ read: () => readViewsViaNft(containerID), plan, apply: (steps) => nftApply(what, stepsScript(steps)) });
  return netlinkOrNft(
    what,
    () =>
      readPlanApply({
        read: () => readViewsViaNetlink(containerID, families),
        plan,
        apply: async (steps) => transact(what, stepsMessages(steps, encode)),
      }),
    viaNft,
  );
}

/**
 * The nftables driver's DEL and GC. GC removes nothing: the reference's layout records only the
 * container ID with each rule, not the network, and one node's networks share these tables, so a
 * rule cannot be told to belong to the network being collected.
 */
export const nftHostportsRemoval: Pick<FirewallDriver<HostportWant>, 'teardown' | 'gc'> = {
  teardown: ({ containerID }) => change('portmap teardown', containerID, [], planTeardown),
  gc: async () => undefined,
};
