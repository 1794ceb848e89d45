// The thin shell over lib/kernel/netlink.ts's netfilter socket: one transaction per call
// (everything in it applies, or nothing does), and the few reads the firewall features make — one
// chain's rules, one chain by name — instead of `nft list`, which reads the whole ruleset.
// Only in the standalone build (`available()`); the Node bundle runs `nft` (lib/firewall/nft.ts).
import { CniError, ErrorCode } from '../../cni/errors.ts';
import {
  NetlinkError,
  netfilterBatch,
  netfilterQuery,
  available as netlinkAvailable,
  type PayloadFilter,
  reserveSeqs,
} from '../../kernel/netlink.ts';
import { ERRNO, errnoCode, strerror } from '../../platform/libc.ts';
import { warn } from '../../platform/output.ts';
import {
  commentAttr,
  commentFits,
  commentIsAt,
  commentStartsWith,
  decodeChainUse,
  decodeRule,
  encodeBatch,
  encodeMessage,
  getChain,
  getRules,
  jumpChainAttr,
  jumpsToAt,
  type NfMessage,
  type NfRule,
  NLM_F_ACK,
  type TableRef,
} from './codec.ts';

export const available = (): boolean => netlinkAvailable() && process.env.CNI_TS_NFTABLES_NETLINK !== '0';

/** A transaction the kernel refused: `errno` of the first failing message, and which message it was. */
export class NfError extends CniError {
  constructor(
    what: string,
    readonly errno: number,
    detail: string,
  ) {
    super(ErrorCode.FirewallFailed, `${what}: ${strerror(errno)}${detail}`);
  }
  get exists(): boolean {
    return this.errno === ERRNO.EEXIST;
  }
  get missing(): boolean {
    return this.errno === ERRNO.ENOENT;
  }
}

/**
 * Errors that say "this kernel or this netlink path cannot do it" rather than "the request was
 * wrong for the current state": the caller then does the same work with `nft`.
 */
const UNSUPPORTED = new Set<number>([ERRNO.EINVAL, ERRNO.EPROTONOSUPPORT, ERRNO.EOPNOTSUPP, ERRNO.EAFNOSUPPORT]);

/**
 * Whether an error means: fall back to the `nft` process. A netlink error outside a transaction
 * (no socket, no answer, a dump the kernel refused) says this path cannot be used here.
 */
export function isUnsupported(e: unknown): boolean {
  if (e instanceof NetlinkError) return true;
  return e instanceof NfError && UNSUPPORTED.has(e.errno);
}

/** Apply `messages` as one transaction; throws NfError with the first failure. */
export function transact(what: string, messages: readonly NfMessage[]): void {
  if (!messages.length) return;
  const first = reserveSeqs(messages.length + 2);
  const answers = netfilterBatch(encodeBatch(messages, first), first + 1, first + messages.length);
  const failed = answers.find((a) => a.errno !== 0);
  if (failed) throw new NfError(what, failed.errno, failed.detail);
}

/**
 * A chain's rules, in order. A missing table or chain: null, or (as current kernels answer a dump
 * that finds nothing) no rules — ask chainExists when it matters. `only` narrows them before
 * anything is decoded, on the dump's bytes: a comment prefix (string), exactly this comment
 * (`{ comment }`), or a jump or goto to this chain (`{ jumpsTo }`, a cheap test: check jumpTarget).
 */
export function listRules(t: TableRef, chain: string, only?: string | { comment: string } | { jumpsTo: string }): NfRule[] | null {
  let keep: PayloadFilter | undefined;
  if (typeof only === 'string') {
    const prefix = new TextEncoder().encode(only);
    keep = (b, s, e) => commentStartsWith(b.subarray(s, e), prefix);
  } else if (only && 'comment' in only) {
    if (!commentFits(only.comment)) return []; // no rule can carry a comment nf_tables cannot store
    const attr = commentAttr(only.comment);
    keep = (b, s, e) => commentIsAt(b, s, e, attr);
  } else if (only) {
    const attr = jumpChainAttr(only.jumpsTo);
    keep = (b, s, e) => jumpsToAt(b, s, e, attr);
  }
  try {
    return netfilterQuery((s) => encodeMessage(getRules(t, chain), s), keep).map((m) => decodeRule(m.payload));
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ERRNO.ENOENT) return null;
    throw e;
  }
}

/** Whether a chain exists. */
export function chainExists(t: TableRef, chain: string): boolean {
  try {
    netfilterQuery((s) => encodeMessage(getChain(t, chain), s, NLM_F_ACK));
    return true;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ERRNO.ENOENT) return false;
    throw e;
  }
}

/** A chain's reference count (its rules plus the jumps to it); null when the chain does not exist. */
export function chainUse(t: TableRef, chain: string): number | null {
  try {
    const [answer] = netfilterQuery((s) => encodeMessage(getChain(t, chain), s, NLM_F_ACK));
    const use = answer ? decodeChainUse(answer.payload) : undefined;
    if (use === undefined) throw new NetlinkError(0, `netfilter: no reference count for chain ${chain}`);
    return use;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ERRNO.ENOENT) return null;
    throw e;
  }
}

let warned = false;

/**
 * Run `viaNetlink`; when it finds this kernel or layout beyond it, say so once on stderr and run
 * `viaNft` instead (which repeats the work from a fresh read: a transaction applies whole or not).
 */
export async function netlinkOrNft<T>(what: string, viaNetlink: () => T | Promise<T>, viaNft: () => Promise<T>): Promise<T> {
  if (!available()) return viaNft();
  try {
    return await viaNetlink();
  } catch (e) {
    if (!isUnsupported(e)) throw e;
    if (!warned) {
      const reason = e instanceof NfError || e instanceof NetlinkError ? errnoCode(e.errno) : (e as Error).message;
      warn(`cni-ts: ${what} over netlink failed (${reason}); using nft`);
      warned = true;
    }
    return viaNft();
  }
}
