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
// of adding a second set; the hook chains are rewritten only when they are not what this ADD wants.
// Each operation reads the two tables (`nft -j list table …`) and writes at most one transaction.
import { type Family, formatIP } from '../net/address.ts';
import { type FirewallDriver, readPlanApply } from './driver.ts';
import { type NftObject, type NftRule, nftApply, nftList, nftQuoted, rulesOf } from './nft.ts';
import { chainExists, available as nfNetlinkAvailable } from './nftables/netlink.ts';
import { FAMILIES, familiesOf, type HostportWant, joinHostPort, mappingsOf, podNetwork } from './portmap-want.ts';

export const TABLE = 'cni_hostport';
const TABLE_COMMENT = 'CNI portmap plugin';
/** Chains that hold per-attachment rules. */
const ATTACHMENT_CHAINS = ['hostports', 'hostip_hostports', 'masquerading'];
const HOOKS = ['prerouting', 'output'] as const;

export const nftFamily = (f: Family): 'ip' | 'ip6' => (f === 4 ? 'ip' : 'ip6');
const tableOf = (f: Family): string => `${nftFamily(f)} ${TABLE}`;

/** Per family: `nft -j list table <family> cni_hostport`, null when the table does not exist. */
export type Tables = Record<Family, NftObject[] | null>;

// ---------------------------------------------------------------- reading rules (pure)

/** The parts of a rule this layout uses, read from nft's JSON. */
export interface RuleFacts {
  protocol?: string;
  dport?: number;
  saddr?: string;
  daddr?: string;
  dnat?: { addr?: string; port?: number };
  masquerade: boolean;
  jump?: string;
  fibLocal: boolean;
  /** Match expressions this reader does not know (user conditions). */
  other: number;
}

const matchValue = (right: unknown): string | number | undefined => {
  if (typeof right === 'string' || typeof right === 'number') return right;
  const prefix = (right as { prefix?: { addr?: string; len?: number } } | null)?.prefix;
  return prefix ? `${prefix.addr}/${prefix.len}` : undefined;
};

export function ruleFacts(rule: NftRule): RuleFacts {
  const facts: RuleFacts = { masquerade: false, fibLocal: false, other: 0 };
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
      facts.other += 1;
    } else if (e?.dnat) {
      facts.dnat = { addr: e.dnat.addr, port: e.dnat.port };
    } else if (e && 'masquerade' in e) {
      facts.masquerade = true;
    } else if (e?.jump) {
      facts.jump = e.jump.target;
    }
  }
  return facts;
}

const chainRules = (objs: NftObject[], chain: string): NftRule[] => rulesOf(objs).filter((r) => r.chain === chain);
const hasChain = (objs: NftObject[], name: string): boolean => objs.some((o) => o.chain?.name === name);

/** A hook chain holding exactly the unconditioned jump a config without conditions wants. */
function hookIsPlain(objs: NftObject[] | null, hook: string): boolean {
  if (!objs || !hasChain(objs, hook)) return false;
  const rules = chainRules(objs, hook).map(ruleFacts);
  return rules.length === 1 && rules[0]!.fibLocal && rules[0]!.jump === 'hostports_all' && rules[0]!.other === 0;
}

function dispatchIsPlain(objs: NftObject[] | null): boolean {
  if (!objs) return false;
  const jumps = chainRules(objs, 'hostports_all').map((r) => ruleFacts(r).jump);
  return jumps.length === 2 && jumps[0] === 'hostip_hostports' && jumps[1] === 'hostports';
}

/** Handles of the attachment's rules, per family. */
export function attachmentHandles(tables: Tables, containerID: string): Record<Family, Array<{ chain: string; handle: number }>> {
  const out: Record<Family, Array<{ chain: string; handle: number }>> = { 4: [], 6: [] };
  for (const f of FAMILIES) {
    for (const r of rulesOf(tables[f] ?? [])) {
      if (ATTACHMENT_CHAINS.includes(r.chain) && r.comment === containerID) out[f].push({ chain: r.chain, handle: r.handle });
    }
  }
  return out;
}

// ---------------------------------------------------------------- scripts (pure)

const deleteLines = (tables: Tables, containerID: string): string[] => {
  const handles = attachmentHandles(tables, containerID);
  return FAMILIES.flatMap((f) => handles[f].map((h) => `delete rule ${tableOf(f)} ${h.chain} handle ${h.handle}`));
};

/**
 * One transaction: the tables and chains where missing, the hook chains and hostports_all where
 * they are not what this ADD wants, the attachment's old rules (both families) deleted, its new
 * rules added.
 */
export function setupScript(containerID: string, want: HostportWant, tables: Tables): string {
  const comment = `comment ${nftQuoted(containerID)}`;
  const lines: string[] = [];
  for (const f of familiesOf(want)) {
    const t = tableOf(f);
    const objs = tables[f];
    lines.push(`add table ${t} { comment ${nftQuoted(TABLE_COMMENT)} ; }`);
    for (const c of ['hostports', 'hostip_hostports', 'hostports_all']) lines.push(`add chain ${t} ${c}`);
    if (!dispatchIsPlain(objs)) {
      lines.push(
        `flush chain ${t} hostports_all`,
        `add rule ${t} hostports_all jump hostip_hostports`,
        `add rule ${t} hostports_all jump hostports`,
      );
    }
    const conditions = want.conditions[f];
    for (const hook of HOOKS) {
      lines.push(`add chain ${t} ${hook} { type nat hook ${hook} priority -100 ; }`);
      // The reference rewrites both on every ADD, so the newest ADD's conditions apply to all.
      if (conditions.length || !hookIsPlain(objs, hook)) {
        lines.push(
          `flush chain ${t} ${hook}`,
          `add rule ${t} ${hook} ${[...conditions, 'fib daddr type local jump hostports_all'].join(' ')}`,
        );
      }
    }
    if (want.snat) lines.push(`add chain ${t} masquerading { type nat hook postrouting priority 100 ; }`);
  }
  lines.push(...deleteLines(tables, containerID));
  for (const f of familiesOf(want)) {
    const t = tableOf(f);
    const ipv = nftFamily(f);
    const pod = want.pod[f]!;
    const podIP = formatIP(pod.ip);
    for (const m of mappingsOf(want, f)) {
      const daddr = m.hostIP ? `${ipv} daddr ${m.hostIP} ` : '';
      lines.push(
        `add rule ${t} hostports ${daddr}${m.protocol} dport ${m.hostPort} dnat to ${joinHostPort(podIP, m.containerPort)} ${comment}`,
      );
    }
    if (want.snat) {
      const source = want.masqAll ? (f === 4 ? '0.0.0.0/0' : '::/0') : podNetwork(pod);
      lines.push(`add rule ${t} masquerading ${ipv} saddr ${source} ${ipv} daddr ${podIP} masquerade ${comment}`);
      if (f === 4 && !want.masqAll) lines.push(`add rule ${t} masquerading ip saddr 127.0.0.1 ip daddr ${podIP} masquerade ${comment}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The transaction removing the attachment's rules; null when it has none. Tables and chains stay. */
export function teardownScript(containerID: string, tables: Tables): string | null {
  const lines = deleteLines(tables, containerID);
  return lines.length ? `${lines.join('\n')}\n` : null;
}

/** What CHECK misses (empty = all there): the hook chains' jumps, and every rule of the attachment. */
export function missingNftRules(containerID: string, want: HostportWant, tables: Tables): string[] {
  const missing: string[] = [];
  for (const f of familiesOf(want)) {
    const t = tableOf(f);
    const objs = tables[f];
    if (!objs) {
      missing.push(`nftables table ${t}`);
      continue;
    }
    for (const hook of HOOKS) {
      const jumps = chainRules(objs, hook).some((r) => {
        const facts = ruleFacts(r);
        return facts.fibLocal && facts.jump === 'hostports_all';
      });
      if (!jumps) missing.push(`nftables rule "fib daddr type local jump hostports_all" in ${t} ${hook}`);
    }
    if (!chainRules(objs, 'hostports_all').some((r) => ruleFacts(r).jump === 'hostports')) {
      missing.push(`nftables rule "jump hostports" in ${t} hostports_all`);
    }
    const mine = (chain: string) =>
      chainRules(objs, chain)
        .filter((r) => r.comment === containerID)
        .map(ruleFacts);
    const podIP = formatIP(want.pod[f]!.ip);
    const dnats = mine('hostports');
    for (const m of mappingsOf(want, f)) {
      const found = dnats.some(
        (r) =>
          r.protocol === m.protocol &&
          r.dport === m.hostPort &&
          r.daddr === m.hostIP &&
          r.dnat?.addr === podIP &&
          r.dnat?.port === m.containerPort,
      );
      if (!found) {
        const daddr = m.hostIP ? `${nftFamily(f)} daddr ${m.hostIP} ` : '';
        missing.push(
          `nftables rule "${daddr}${m.protocol} dport ${m.hostPort} dnat to ${joinHostPort(podIP, m.containerPort)}" in ${t} hostports`,
        );
      }
    }
    if (want.snat) {
      const masq = mine('masquerading').filter((r) => r.masquerade && r.daddr === podIP);
      if (!masq.some((r) => r.saddr !== '127.0.0.1')) missing.push(`nftables hairpin masquerade rule for ${podIP} in ${t} masquerading`);
      if (f === 4 && !want.masqAll && !masq.some((r) => r.saddr === '127.0.0.1')) {
        missing.push(`nftables localhost masquerade rule for ${podIP} in ${t} masquerading`);
      }
    }
  }
  return missing;
}

// ---------------------------------------------------------------- kernel (thin shell)

/**
 * The family's table holds none of the chains an attachment's rules live in, as the standalone
 * build can ask nf_tables directly (no `nft` process); false when that cannot be told.
 */
function surelyEmpty(f: Family): boolean {
  if (!nfNetlinkAvailable()) return false;
  try {
    return ATTACHMENT_CHAINS.every((c) => !chainExists({ family: nftFamily(f), table: TABLE }, c));
  } catch {
    return false;
  }
}

/** Both tables; one that surely holds nothing of any attachment is not listed at all. */
async function readTables(): Promise<Tables> {
  const [v4, v6] = await Promise.all(FAMILIES.map((f) => (surelyEmpty(f) ? null : nftList(['table', nftFamily(f), TABLE]))));
  return { 4: v4 ?? null, 6: v6 ?? null };
}

/**
 * The nftables driver. GC removes nothing: the reference's layout records only the container ID
 * with each rule, not the network, and one node's networks share these tables, so a rule cannot be
 * told to belong to the network being collected.
 */
export const nftHostports: FirewallDriver<HostportWant> = {
  setup: ({ containerID }, want) =>
    readPlanApply({
      read: readTables,
      plan: (tables) => setupScript(containerID, want, tables),
      apply: (s) => nftApply('portmap setup', s),
    }),
  teardown: ({ containerID }) =>
    readPlanApply({
      read: readTables,
      plan: (tables) => teardownScript(containerID, tables),
      apply: (s) => nftApply('portmap teardown', s),
    }),
  gc: async () => undefined,
  missing: async ({ containerID }, want) => missingNftRules(containerID, want, await readTables()),
};
