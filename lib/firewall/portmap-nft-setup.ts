// portmap's nftables driver, ADD and CHECK (lib/firewall/portmap-nft.ts has the layout, reading
// rules, DEL and GC): the attachment's rules for the pod's addresses as facts and as nf_tables
// expressions, the ADD plan and CHECK's comparison. Loaded for ADD and CHECK only: DEL never loads
// address code.
import { bitsOf, canonicalCidr, type Family, formatCidr, formatIP, ipBytes, parseIP, parseIPOrCidr } from '../net/address.ts';
import { warn } from '../platform/output.ts';
import { type FirewallDriver, readPlanApply } from './driver.ts';
import { nftApply } from './nft.ts';
import { addressMatch, dnatTo, dportIs, type Expr, fibDaddrLocal, type L4PROTO, verdict } from './nftables/codec.ts';
import { available as netlinkAvailable, netlinkOrNft } from './nftables/netlink.ts';
import {
  BASE_CHAINS,
  change,
  DISPATCH,
  deletions,
  HOOK_JUMP,
  HOOKS,
  type PlacedRule,
  type RuleFacts,
  readViewsViaNetlink,
  readViewsViaNft,
  ruleText,
  type SmallChain,
  type Step,
  sameFacts,
  sameList,
  stepsScript,
  tableOf,
  type Views,
} from './portmap-nft.ts';
import { FAMILIES, familiesOf, type HostportWant, mappingsOf } from './portmap-want.ts';

// ---------------------------------------------------------------- rules (pure)

function addressExprs(family: Family, field: 'saddr' | 'daddr', text: string): Expr[] {
  const p = parseIPOrCidr(text);
  if (!p || p.ip.family !== family) throw new Error(`not an IPv${family} address or network: ${text}`);
  return addressMatch(family, field, 'eq', ipBytes(p.ip), p.prefix ?? bitsOf(family));
}

/** The same rule as nf_tables expressions, in nft's linearisation (the order of `ruleText`). */
export function ruleExprs(family: Family, r: RuleFacts): Expr[] {
  const exprs: Expr[] = [];
  if (r.saddr !== undefined) exprs.push(...addressExprs(family, 'saddr', r.saddr));
  if (r.daddr !== undefined) exprs.push(...addressExprs(family, 'daddr', r.daddr));
  if (r.protocol !== undefined) exprs.push(...dportIs(r.protocol as keyof typeof L4PROTO, r.dport ?? 0));
  if (r.fibLocal) exprs.push(...fibDaddrLocal());
  if (r.dnat) {
    const to = parseIP(r.dnat.addr ?? '');
    if (!to || to.family !== family) throw new Error(`not an IPv${family} address: ${r.dnat.addr}`);
    exprs.push(...dnatTo(family, ipBytes(to), r.dnat.port ?? 0));
  }
  if (r.masquerade) exprs.push({ kind: 'masq' });
  if (r.jump !== undefined) exprs.push(verdict('jump', r.jump));
  return exprs;
}

/** The attachment's rules, in the order they are written: per family, the DNATs, then the masquerades. */
export function attachmentRules(want: HostportWant): PlacedRule[] {
  const rules: PlacedRule[] = [];
  for (const f of familiesOf(want)) {
    const pod = want.pod[f]!;
    const podIP = formatIP(pod.ip);
    for (const m of mappingsOf(want, f)) {
      const facts: RuleFacts = { protocol: m.protocol, dport: m.hostPort, dnat: { addr: podIP, port: m.containerPort } };
      if (m.hostIP) facts.daddr = m.hostIP;
      rules.push({ family: f, chain: 'hostports', facts });
    }
    if (want.snat) {
      const source = want.masqAll ? (f === 4 ? '0.0.0.0/0' : '::/0') : formatCidr(canonicalCidr(pod));
      rules.push({ family: f, chain: 'masquerading', facts: { saddr: source, daddr: podIP, masquerade: true } });
      if (f === 4 && !want.masqAll)
        rules.push({ family: f, chain: 'masquerading', facts: { saddr: '127.0.0.1', daddr: podIP, masquerade: true } });
    }
  }
  return rules;
}

// ---------------------------------------------------------------- plans (pure)

/**
 * What an ADD changes: the tables and chains where missing; hostports_all and the hook chains
 * where they are not what this ADD wants (with conditions, always: the newest ADD's conditions
 * apply to all, as in the reference); and the attachment's rules, unless they are already exactly
 * what it wants — else its old ones (in either family) deleted and the wanted ones added. Null
 * when nothing differs: a transaction that changes nothing still costs the kernel a grace period.
 */
export function planSetup(containerID: string, want: HostportWant, views: Views): Step[] | null {
  const steps: Step[] = [];
  for (const family of familiesOf(want)) {
    const v = views[family];
    const has = (c: string) => v.chains.has(c);
    const rewrite = (chain: SmallChain, rules: RuleFacts[], conditions: string[] = []) => {
      if (!conditions.length && sameList(v.small[chain], rules)) return;
      if (has(chain)) steps.push({ op: 'flush', family, chain });
      for (const facts of rules) steps.push({ op: 'rule', family, chain, facts, ...(conditions.length ? { conditions } : {}) });
    };
    if (!v.chains.size) steps.push({ op: 'table', family });
    for (const chain of ['hostports', 'hostip_hostports', 'hostports_all']) if (!has(chain)) steps.push({ op: 'chain', family, chain });
    rewrite('hostports_all', DISPATCH);
    for (const hook of HOOKS) {
      if (!has(hook)) steps.push({ op: 'chain', family, chain: hook, base: BASE_CHAINS[hook] });
      rewrite(hook, [HOOK_JUMP], want.conditions[family]);
    }
    if (want.snat && !has('masquerading')) steps.push({ op: 'chain', family, chain: 'masquerading', base: BASE_CHAINS.masquerading });
  }
  const wanted = attachmentRules(want);
  const current = FAMILIES.flatMap((f) => views[f].mine.map((r) => ({ family: f, ...r })));
  const unchanged =
    current.length === wanted.length &&
    current.every((r, i) => r.family === wanted[i]!.family && r.chain === wanted[i]!.chain && sameFacts(r.facts, wanted[i]!.facts));
  if (!unchanged) {
    steps.push(...deletions(views));
    for (const r of wanted) steps.push({ op: 'rule', ...r, comment: containerID });
  }
  return steps.length ? steps : null;
}

/** What CHECK misses (empty = all there): the hook chains' jumps, and every rule of the attachment. */
export function missingRules(want: HostportWant, views: Views): string[] {
  const missing: string[] = [];
  for (const f of familiesOf(want)) {
    const t = tableOf(f);
    const v = views[f];
    if (!v.chains.size) {
      missing.push(`nftables table ${t}`);
      continue;
    }
    for (const hook of HOOKS) {
      // Conditions may stand in front of the jump.
      if (!v.small[hook].some((r) => r.fibLocal && r.jump === 'hostports_all')) {
        missing.push(`nftables rule "${ruleText(f, HOOK_JUMP)}" in ${t} ${hook}`);
      }
    }
    if (!v.small.hostports_all.some((r) => r.jump === 'hostports')) missing.push(`nftables rule "jump hostports" in ${t} hostports_all`);
    const mine = (chain: string) => v.mine.filter((r) => r.chain === chain).map((r) => r.facts);
    const dnats = mine('hostports');
    for (const r of attachmentRules(want).filter((x) => x.family === f && x.chain === 'hostports')) {
      if (!dnats.some((d) => sameFacts(d, r.facts))) missing.push(`nftables rule "${ruleText(f, r.facts)}" in ${t} hostports`);
    }
    if (want.snat) {
      // Any hairpin source is accepted: the reference's is the pod's own address.
      const podIP = formatIP(want.pod[f]!.ip);
      const masq = mine('masquerading').filter((r) => r.masquerade && r.daddr === podIP && !r.other);
      if (!masq.some((r) => r.saddr !== '127.0.0.1')) missing.push(`nftables hairpin masquerade rule for ${podIP} in ${t} masquerading`);
      if (f === 4 && !want.masqAll && !masq.some((r) => r.saddr === '127.0.0.1')) {
        missing.push(`nftables localhost masquerade rule for ${podIP} in ${t} masquerading`);
      }
    }
  }
  return missing;
}

// ---------------------------------------------------------------- kernel (thin shell)

const hasConditions = (want: HostportWant): boolean => familiesOf(want).some((f) => want.conditions[f].length > 0);

/** The nftables driver's ADD and CHECK. */
export const nftHostportsSetup: Pick<FirewallDriver<HostportWant>, 'setup' | 'missing'> = {
  setup: ({ containerID }, want) => {
    const plan = (views: Views) => planSetup(containerID, want, views);
    if (!hasConditions(want)) return change('portmap setup', containerID, familiesOf(want), plan, ruleExprs);
    if (netlinkAvailable()) warn('cni-ts: portmap conditions are nft text; using nft');
    return readPlanApply({
      read: () => readViewsViaNft(containerID),
      plan,
      apply: (steps) => nftApply('portmap setup', stepsScript(steps)),
    });
  },
  missing: ({ containerID }, want) =>
    netlinkOrNft(
      'portmap check',
      async () => missingRules(want, await readViewsViaNetlink(containerID, familiesOf(want))),
      async () => missingRules(want, await readViewsViaNft(containerID)),
    ),
};
