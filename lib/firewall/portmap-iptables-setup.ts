// portmap's iptables driver, ADD and CHECK (lib/firewall/portmap-iptables.ts has the layout, the
// names, DEL and GC): the attachment's rules for the pod's addresses, the plans that write them
// (one restore per family, the nat table read only when the fast path cannot be taken) and
// CHECK's comparison. Loaded for ADD and CHECK only: DEL never loads address code.
import { CniError, ErrorCode } from '../cni/errors.ts';
import { bitsOf, canonicalCidr, type Family, formatCidr, formatIP } from '../net/address.ts';
import { run } from '../platform/exec.ts';
import { withFileLock } from '../platform/lock.ts';
import { settledValues } from '../platform/steps.ts';
import { iptablesIsNft } from './backend.ts';
import type { FirewallDriver } from './driver.ts';
import {
  applyNat,
  LOCK_WAIT,
  type NatState,
  RestoreError,
  readNat,
  reconcile,
  restoreInput,
  type SavedRule,
  TOOLS,
} from './masquerade-iptables.ts';
import { CMP_OP, type Expr, jumpTarget, META_KEY, REG1 } from './nftables/codec.ts';
import { chainUse, listRules, available as nfNetlinkAvailable } from './nftables/netlink.ts';
import {
  DNAT_CHAIN,
  dnatChainName,
  entryRules,
  hookJumps,
  MASQ_CHAIN,
  markArg,
  masqRule,
  masqueradeWanted,
  postroutingJump,
  type Rule,
  ruleLine,
  SETMARK_CHAIN,
  setmarkRule,
} from './portmap-iptables.ts';
import { familiesOf, type HostportWant, joinHostPort, mappingsOf, type PortMapping } from './portmap-want.ts';

const BUILTIN = new Set(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);

// ---------------------------------------------------------------- rules (pure)

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
      const hairpin = want.masqAll ? (family === 4 ? '0.0.0.0/0' : '::/0') : formatCidr(canonicalCidr(pod));
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
export function planShared(want: HostportWant, state: NatState): { chains: string[]; rules: string[] } {
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
  const tool = TOOLS[family].cmd;
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
  const missing = absent.map((c) => `${TOOLS[family].cmd} nat chain ${c}`);
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

/**
 * ADD's fast path in one family: when the shared chains are in place, one restore that creates the
 * attachment's chain and appends its rules. False when it cannot be taken (the shared chains are
 * not all there, the chain exists: a re-ADD, or a concurrent change).
 */
async function setupFast(network: string, containerID: string, family: Family, want: HostportWant): Promise<boolean> {
  const viaNetlink = nfNetlinkAvailable() && iptablesIsNft();
  if (viaNetlink) {
    try {
      if (!sharedInPlace(family, want)) return false;
    } catch {
      return false;
    }
  }
  try {
    await applyNat(family, freshSetupLines(network, containerID, family, want, viaNetlink ? [] : sharedChecks(want)), 'portmap setup');
    return true;
  } catch (e) {
    if (!(e instanceof RestoreError)) throw e;
    return false;
  }
}

/**
 * ADD in one family without the shared lock: the fast path, else the nat table read and, when the
 * shared chains and rules are all there, the attachment's missing rules written. False when shared
 * chains or rules are to be written (setupShared, under SHARED_LOCK).
 */
async function setupUnlocked(network: string, containerID: string, family: Family, want: HostportWant): Promise<boolean> {
  if (await setupFast(network, containerID, family, want)) return true;
  const state = await readNat(family);
  const shared = state && planShared(want, state);
  if (shared && (shared.chains.length || shared.rules.length)) return false;
  const plan = (s: NatState) => planSetup(network, containerID, family, want, s);
  await reconcile(family, 'portmap setup', plan, true, state);
  return true;
}

/**
 * ADD in the families that have shared chains or rules to write, one after the other, holding
 * SHARED_LOCK once for all of them (the standalone build's flock blocks the whole process, so two
 * families waiting for it concurrently would wait for each other), each first trying the fast path
 * again (the ADD before it may have made them): iptables-nft lets two concurrent restores `-N` the
 * same chain, and both then append the shared rules.
 */
async function setupShared(network: string, containerID: string, families: readonly Family[], want: HostportWant): Promise<void> {
  await withSharedLock(async () => {
    for (const family of families) {
      if (await setupFast(network, containerID, family, want)) continue;
      await reconcile(family, 'portmap setup', (s) => planSetup(network, containerID, family, want, s), true);
    }
  });
}

/** Where ADDs that write the shared chains take turns: a node-wide lock file. */
export const SHARED_LOCK = '/run/cni-ts-hostports.lock';
/** Seconds an ADD waits for SHARED_LOCK: each holder runs one or two restores. */
const SHARED_LOCK_WAIT = 30;

/** `fn` holding SHARED_LOCK; without it when no lock file can be made here. */
async function withSharedLock(fn: () => Promise<void>): Promise<void> {
  try {
    await withFileLock(SHARED_LOCK, fn, SHARED_LOCK_WAIT);
  } catch (e) {
    if (!(e instanceof CniError && e.code === ErrorCode.IoFailure && /cannot open lock file/.test(e.message))) throw e;
    await fn();
  }
}

/** The iptables driver's ADD and CHECK, in each family the pod has an address of. */
export const iptablesHostportsSetup: Pick<FirewallDriver<HostportWant>, 'setup' | 'missing'> = {
  async setup({ network, containerID }, want) {
    const families = familiesOf(want);
    // Every family to its end before a failure is thrown (the rollback must not race a restore).
    const done = await settledValues(families.map((f) => setupUnlocked(network, containerID, f, want)));
    const rest = families.filter((_, i) => !done[i]);
    if (rest.length) await setupShared(network, containerID, rest, want);
  },
  async missing({ network, containerID }, want) {
    const perFamily = await Promise.all(familiesOf(want).map((f) => missingInFamily(f, checkedRules(network, containerID, f, want))));
    return perFamily.flat();
  },
};
