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
//         written; the shared chains are then created with `-N`, which fails the whole transaction
//         when a concurrent ADD created them first, so it is read and planned again, and two first
//         ADDs never flush each other's entry rules.
//   DEL   with iptables-nft in the standalone build: one nf_tables transaction over netlink for
//         both families (the entry rules found among CNI-HOSTPORT-DNAT's by their jump, on the
//         dump's bytes; the chain flushed and deleted). Otherwise `iptables -S` of CNI-HOSTPORT-DNAT
//         and of the attachment's chain (one chain each) and one restore per family, none when
//         nothing is there. The legacy CNI-SN chain of old versions, if there, makes DEL read the
//         whole table, as any unexpected state does.
//   CHECK and GC read the nat table: they must see every rule they judge.
// DEL and GC find an attachment by its chain name (network + container ID), never by addresses;
// the shared chains are never removed. Every command waits for the xtables lock at most LOCK_WAIT.
import { bitsOf, type Family, formatIP } from '../net/address.ts';
import { run } from '../platform/exec.ts';
import { formatHashWithPrefix } from '../platform/hash.ts';
import { iptablesIsNft } from './backend.ts';
import { type AttachmentKey, type FirewallDriver, readPlanApply } from './driver.ts';
import {
  applyNat,
  jumpsIn,
  LOCK_WAIT,
  listChain,
  type NatState,
  planRemoveChain,
  RestoreError,
  readNat,
  reconcile,
  restoreInput,
  type SavedRule,
  TOOLS,
  teardownLines,
} from './masquerade-iptables.ts';
import { CMP_OP, deleteChain, deleteRule, type Expr, flushChain, jumpTarget, META_KEY, type NfMessage, REG1 } from './nftables/codec.ts';
import { chainExists, chainUse, listRules, NfError, netlinkOrNft, available as nfNetlinkAvailable, transact } from './nftables/netlink.ts';
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

/** The shared rules as `-C` lines: a restore holding them fails when one is missing. */
export function sharedChecks(want: HostportWant): string[] {
  const rules = masqueradeWanted(want) ? [setmarkRule(want.mark), masqRule(want.mark), postroutingJump, ...hookJumps] : hookJumps;
  return rules.map((r) => ruleLine('-C', r));
}

/**
 * ADD's fast path: create the attachment's chain (failing if it exists: a re-ADD), optionally
 * test the shared rules (failing if one is missing), fill the chain, append the entry rules.
 */
export const freshSetupLines = (network: string, containerID: string, family: Family, want: HostportWant, checks: string[]): string[] => [
  `-N ${dnatChainName(network, containerID)}`,
  ...checks,
  ...dnatRules(network, containerID, family, want).map((r) => ruleLine('-A', r)),
  ...entryRules(network, containerID, family, want).map((r) => ruleLine('-A', r)),
];

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

/** `meta mark & <mark> == <mark>`: how iptables-nft stores CNI-HOSTPORT-MASQ's `-m mark --mark`. */
function testsMark(exprs: readonly Expr[], mark: number): boolean {
  const le = new Uint8Array(4);
  new DataView(le.buffer).setUint32(0, mark, true); // a host-order register (little-endian targets)
  const same = (b: Uint8Array) => b.length === 4 && b.every((x, i) => x === le[i]);
  return exprs.some(
    (e, i) =>
      e.kind === 'meta' &&
      e.key === META_KEY.mark &&
      e.dreg === REG1 &&
      exprs[i + 1]?.kind === 'bitwise' &&
      same((exprs[i + 1] as Extract<Expr, { kind: 'bitwise' }>).mask) &&
      exprs[i + 2]?.kind === 'cmp' &&
      (exprs[i + 2] as Extract<Expr, { kind: 'cmp' }>).op === CMP_OP.eq &&
      same((exprs[i + 2] as Extract<Expr, { kind: 'cmp' }>).data),
  );
}

/**
 * Whether the shared chains and jumps are in place, as iptables-nft keeps them in nf_tables:
 * PREROUTING and OUTPUT jump to CNI-HOSTPORT-DNAT (their few rules read, the jump tested on the
 * bytes); with masquerade, CNI-HOSTPORT-MASQ is jumped to (its reference count, which counts its
 * own rules and the jumps to it, exceeds its rules: POSTROUTING, which holds a rule per pod, is
 * not read), tests this mark, and CNI-HOSTPORT-SETMARK has its rule (an xt target, not decoded).
 */
function sharedInPlace(family: Family, want: HostportWant): boolean {
  const ref = TOOLS[family].nft;
  const jumps = (from: string, to: string) => (listRules(ref, from, { jumpsTo: to }) ?? []).some((r) => jumpTarget(r) === to);
  if (!jumps('PREROUTING', DNAT_CHAIN) || !jumps('OUTPUT', DNAT_CHAIN)) return false;
  if (!masqueradeWanted(want)) return true;
  const masq = listRules(ref, MASQ_CHAIN) ?? [];
  const use = chainUse(ref, MASQ_CHAIN);
  if (use === null || use <= masq.length || !masq.some((r) => testsMark(r.exprs, want.mark))) return false;
  return (listRules(ref, SETMARK_CHAIN) ?? []).length > 0;
}

/** ADD in one family: the fast path when it can be taken, else the read-and-complete path. */
async function setupFamily(network: string, containerID: string, family: Family, want: HostportWant): Promise<void> {
  const viaNetlink = nfNetlinkAvailable() && iptablesIsNft();
  let fast = true;
  if (viaNetlink) {
    try {
      fast = sharedInPlace(family, want);
    } catch {
      fast = false;
    }
  }
  if (fast) {
    try {
      return await applyNat(
        family,
        freshSetupLines(network, containerID, family, want, viaNetlink ? [] : sharedChecks(want)),
        'portmap setup',
      );
    } catch (e) {
      // The chain exists (a re-ADD), a shared rule is missing, or a concurrent change: read the table.
      if (!(e instanceof RestoreError)) throw e;
    }
  }
  await reconcile(family, 'portmap setup', (s) => planSetup(network, containerID, family, want, s), true);
}

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
    if (e instanceof NfError && e.errno === EBUSY) return false;
    throw e;
  }
  return !legacy;
}
const EBUSY = 16;

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

/** The iptables driver: per-attachment CNI-DN chain and its entry rules, in each family the pod has an address of. */
export const iptablesHostports: FirewallDriver<HostportWant> = {
  async setup({ network, containerID }, want) {
    await Promise.all(familiesOf(want).map((f) => setupFamily(network, containerID, f, want)));
  },
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
    await Promise.all(FAMILIES.map((f) => teardownFamily(f, network, containerID)));
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
