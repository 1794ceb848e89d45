// Host ports with iptables, in the reference portmap's layout (containernetworking/plugins
// plugins/meta/portmap), so either implementation's DEL and CHECK work on the other's state.
// All in table nat, the same in iptables and ip6tables:
//   CNI-HOSTPORT-DNAT      shared; jumped to from PREROUTING and OUTPUT (`-m addrtype --dst-type LOCAL`)
//   CNI-HOSTPORT-SETMARK   shared (snat); `-j MARK --set-xmark <mark>/<mark>`
//   CNI-HOSTPORT-MASQ      shared (snat); marked packets → MASQUERADE; POSTROUTING jumps here first
//   CNI-DN-<21 hex of sha512(network + containerID)>   per attachment: per mapping, the hairpin and
//       localhost mark rules and the DNAT; entered from CNI-HOSTPORT-DNAT by one multiport rule per
//       protocol (15 ports each) commented `dnat name: "<net>" id: "<id>"`.
// Every change is one `iptables-restore -w --noflush` per family touching only the attachment's
// chain, its entry rules and (the first time on a node) the shared chains; it is planned from one
// `iptables-save -t nat` read. The shared chains are created with `-N`, which fails the whole
// transaction when a concurrent ADD created them first: it is then read, planned and applied again,
// so two first ADDs never flush each other's entry rules. DEL and GC find an attachment by its
// chain name (network + container ID), never by addresses; the shared chains are never removed.
import { bitsOf, type Family, formatIP } from '../net/address.ts';
import { run } from '../platform/exec.ts';
import { formatHashWithPrefix } from '../platform/hash.ts';
import { iptablesIsNft } from './backend.ts';
import type { AttachmentKey, FirewallDriver } from './driver.ts';
import {
  LOCK_WAIT,
  type NatState,
  planRemoveChain,
  readNat,
  reconcile,
  restoreInput,
  type SavedRule,
  TOOLS,
} from './masquerade-iptables.ts';
import { chainExists, available as nfNetlinkAvailable } from './nftables/netlink.ts';
import {
  FAMILIES,
  familiesOf,
  type HostportWant,
  hexMark,
  joinHostPort,
  mappingsOf,
  type PortMapping,
  podNetwork,
} from './portmap-want.ts';

export const DNAT_CHAIN = 'CNI-HOSTPORT-DNAT';
export const SETMARK_CHAIN = 'CNI-HOSTPORT-SETMARK';
export const MASQ_CHAIN = 'CNI-HOSTPORT-MASQ';
/** The multiport match takes at most 15 ports. */
const MULTIPORT_MAX = 15;
const SETMARK_COMMENT = 'CNI portfwd masquerade mark';
const POSTROUTING_COMMENT = 'CNI portfwd requiring masquerade';
/** iptables' comment match holds 255 bytes. */
const COMMENT_MAX = 255;
const BUILTIN = new Set(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);

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

const markArg = (mark: number): string => `${hexMark(mark)}/${hexMark(mark)}`;

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

const masqueradeWanted = (want: HostportWant): boolean => want.snat && !want.externalSetMarkChain;

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

/**
 * The attachment's chain: per mapping of this family, in order, the hairpin mark (source: the
 * pod's network, or everything with masqAll), the localhost mark (IPv4 without masqAll), the DNAT.
 * Written as iptables-save prints them.
 */
export function dnatRules(network: string, containerID: string, family: Family, want: HostportWant): Rule[] {
  const pod = want.pod[family];
  if (!pod) return [];
  const chain = dnatChainName(network, containerID);
  const markChain = want.externalSetMarkChain ?? SETMARK_CHAIN;
  const podIP = formatIP(pod.ip);
  const rules: Rule[] = [];
  const match = (m: PortMapping): string[] => [
    ...(m.hostIP ? ['-d', `${m.hostIP}/${bitsOf(family)}`] : []),
    '-p',
    m.protocol,
    '-m',
    m.protocol,
    '--dport',
    String(m.hostPort),
  ];
  for (const m of mappingsOf(want, family)) {
    if (want.snat) {
      const hairpin = want.masqAll ? (family === 4 ? '0.0.0.0/0' : '::/0') : podNetwork(pod);
      rules.push({ chain, args: ['-s', hairpin, ...match(m), '-j', markChain] });
      if (family === 4 && !want.masqAll) rules.push({ chain, args: ['-s', '127.0.0.1/32', ...match(m), '-j', markChain] });
    }
    rules.push({ chain, args: [...match(m), '-j', 'DNAT', '--to-destination', joinHostPort(podIP, m.containerPort)] });
  }
  return rules;
}

// ---------------------------------------------------------------- plans (pure)
// A plan is the list of iptables-restore lines between `*nat` and `COMMIT`.

const hasRule = (state: NatState, chain: string, test: (r: SavedRule) => boolean): boolean =>
  state.rules.some((r) => r.chain === chain && test(r));

/** The shared chains and jumps this want needs and `state` lacks: `-N` lines first, then rules. */
function planShared(want: HostportWant, state: NatState): { chains: string[]; rules: string[] } {
  const chains: string[] = [];
  const rules: string[] = [];
  const ensureChain = (name: string) => {
    if (!state.chains.has(name)) chains.push(`-N ${name}`);
  };
  if (masqueradeWanted(want)) {
    const mark = markArg(want.mark);
    ensureChain(SETMARK_CHAIN);
    if (!hasRule(state, SETMARK_CHAIN, (r) => r.target === 'MARK' && r.line.includes(`--set-xmark ${mark}`))) {
      rules.push(ruleLine('-A', setmarkRule(want.mark)));
    }
    ensureChain(MASQ_CHAIN);
    if (!hasRule(state, MASQ_CHAIN, (r) => r.target === 'MASQUERADE' && r.line.includes(`--mark ${mark}`))) {
      rules.push(ruleLine('-A', masqRule(want.mark)));
    }
    if (!hasRule(state, 'POSTROUTING', (r) => r.target === MASQ_CHAIN)) rules.push(ruleLine('-I', postroutingJump));
  }
  ensureChain(DNAT_CHAIN);
  for (const jump of hookJumps) if (!hasRule(state, jump.chain, (r) => r.target === DNAT_CHAIN)) rules.push(ruleLine('-A', jump));
  return { chains, rules };
}

/** Rules elsewhere that jump to `chain` (its entry rules), as `-D` lines. */
const removeJumpsTo = (chain: string, state: NatState): string[] =>
  state.rules.filter((r) => r.target === chain && r.chain !== chain).map((r) => `-D ${r.line.slice(3)}`);

/**
 * Lines that make the attachment's state in one family exactly `want`: the shared chains where
 * missing, the attachment's chain declared (which creates it, or flushes it on a repeated ADD:
 * unlike the reference, which appends a second set of rules that never match), its old entry rules
 * removed, the new rules and entry rules appended.
 */
export function planSetup(network: string, containerID: string, family: Family, want: HostportWant, state: NatState): string[] {
  const chain = dnatChainName(network, containerID);
  const shared = planShared(want, state);
  return [
    ...shared.chains,
    `:${chain} - [0:0]`,
    ...removeJumpsTo(chain, state),
    ...shared.rules,
    ...dnatRules(network, containerID, family, want).map((r) => ruleLine('-A', r)),
    ...entryRules(network, containerID, family, want).map((r) => ruleLine('-A', r)),
  ];
}

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

/** What CHECK verifies in one family, each with a readable name: shared chains and jumps, then the attachment's rules. */
export function checkedRules(
  network: string,
  containerID: string,
  family: Family,
  want: HostportWant,
): Array<{ what: string; rule: Rule }> {
  const rules: Rule[] = [];
  if (masqueradeWanted(want)) rules.push(setmarkRule(want.mark), masqRule(want.mark), postroutingJump);
  rules.push(...hookJumps, ...dnatRules(network, containerID, family, want), ...entryRules(network, containerID, family, want));
  const tool = family === 4 ? 'iptables' : 'ip6tables';
  const withoutComment = (r: Rule): Rule => {
    const at = r.args.indexOf('--comment');
    return at < 2 ? r : { chain: r.chain, args: [...r.args.slice(0, at - 2), ...r.args.slice(at + 2)] };
  };
  return rules.map((rule) => ({ what: `${tool} rule "${ruleLine('-A', withoutComment(rule))}"`, rule }));
}

// ---------------------------------------------------------------- kernel (thin shell)

/**
 * CHECK in one family: chains that do not exist are named once; every rule of the others is
 * tested with `-C` in one iptables-restore, so iptables itself compares (its own normal form of
 * user conditions included). A missing rule fails its line; it is recorded and the rest tested again.
 */
async function missingInFamily(family: Family, items: Array<{ what: string; rule: Rule }>): Promise<string[]> {
  const state = await readNat(family);
  if (!state) return [`${TOOLS[family].save} not usable`];
  const absent = [...new Set(items.map((i) => i.rule.chain))].filter((c) => !BUILTIN.has(c) && !state.chains.has(c));
  const missing = absent.map((c) => `${family === 4 ? 'iptables' : 'ip6tables'} nat chain ${c}`);
  let pending = items.filter((i) => !absent.includes(i.rule.chain));
  while (pending.length) {
    const r = await run(TOOLS[family].restore, ['-w', LOCK_WAIT, '--noflush'], {
      input: restoreInput(pending.map((i) => ruleLine('-C', i.rule))),
    });
    if (r.code === 0) break;
    const failed = /line (\d+) failed/.exec(r.stderr);
    const index = failed ? Number(failed[1]) - 2 : -1; // line 1 is "*nat"
    if (index < 0 || index >= pending.length) {
      missing.push(`${TOOLS[family].restore}: ${r.stderr.trim().split('\n')[0]?.slice(0, 200) || `exit ${r.code}`}`);
      break;
    }
    missing.push(pending[index]!.what);
    pending = pending.filter((_, k) => k !== index);
  }
  return missing;
}

/**
 * The attachment certainly has no chain in this family: iptables-nft keeps its chains in
 * nf_tables, where the standalone build can ask for them by name without reading the table
 * (most DELs are of pods without host ports). False when that cannot be told.
 */
function surelyAbsent(family: Family, network: string, containerID: string): boolean {
  if (!nfNetlinkAvailable() || !iptablesIsNft()) return false;
  try {
    return [dnatChainName(network, containerID), legacySnatChainName(network, containerID)].every(
      (c) => !chainExists(TOOLS[family].nft, c),
    );
  } catch {
    return false; // cannot tell: read the table
  }
}

/** The iptables driver: per-attachment CNI-DN chain and its entry rules, in each family the pod has an address of. */
export const iptablesHostports: FirewallDriver<HostportWant> = {
  async setup({ network, containerID }, want) {
    await Promise.all(familiesOf(want).map((f) => reconcile(f, 'portmap setup', (s) => planSetup(network, containerID, f, want, s), true)));
  },
  // Both families: the pod's addresses may be unknown at DEL time.
  async teardown({ network, containerID }) {
    await Promise.all(
      FAMILIES.filter((f) => !surelyAbsent(f, network, containerID)).map((f) =>
        reconcile(f, 'portmap teardown', (s) => planTeardown(network, containerID, s), false),
      ),
    );
  },
  // Chains are per (network, container ID): ifname plays no part, as in the reference.
  async gc(network: string, valid: readonly AttachmentKey[]) {
    const validIDs = new Set(valid.map((a) => a.containerID));
    await Promise.all(FAMILIES.map((f) => reconcile(f, 'portmap GC', (s) => planGc(network, validIDs, s), false)));
  },
  async missing({ network, containerID }, want) {
    const perFamily = await Promise.all(familiesOf(want).map((f) => missingInFamily(f, checkedRules(network, containerID, f, want))));
    return perFamily.flat();
  },
};
