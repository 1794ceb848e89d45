// The nftables command line: one `nft -f -` transaction per change (text syntax, or JSON with
// `json: true`), and `nft -j list …` to read state. Everything in a transaction applies or
// nothing does, so a failed write never leaves half a rule set behind.
import { CniError, ErrorCode } from '../cni/errors.ts';
import { run } from '../platform/exec.ts';

export class NftError extends CniError {
  constructor(
    what: string,
    readonly stderr: string,
  ) {
    super(ErrorCode.FirewallFailed, `${what}: ${nftErrorLine(stderr)}`);
  }
  /** The transaction tried to create an object that already exists (`create …`). */
  get exists(): boolean {
    return /File exists/i.test(this.stderr);
  }
}

function nftErrorLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => /Error/i.test(l)) ?? stderr.trim().split('\n')[0] ?? '';
  return line.trim().slice(0, 300) || 'nft failed';
}

/**
 * Apply one transaction. `what` names the operation in the error message. JSON goes in as one
 * argument: nft's JSON reader reopens /dev/stdin, which fails on the socket Node gives a child
 * as stdin (ENXIO); the text reader reads fd 0 directly.
 */
export async function nftApply(what: string, script: string, opts: { json?: boolean } = {}): Promise<void> {
  const r = opts.json ? await run('nft', ['-j', script]) : await run('nft', ['-f', '-'], { input: script });
  if (r.code !== 0) throw new NftError(what, r.stderr || `nft exited ${r.code}`);
}

/** One object of `nft -j list` output, e.g. `{rule: {...}}` or `{chain: {...}}`. */
// biome-ignore lint/suspicious/noExplicitAny: nft's JSON objects are read field by field where used
export type NftObject = Record<string, Record<string, any>>;

export interface NftRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  // biome-ignore lint/suspicious/noExplicitAny: nft's expression JSON is matched structurally by the callers
  expr?: any[];
}

/** What the handle pickers need of a rule, whether `nft -j` or a netlink dump described it. */
export type RuleRef = Pick<NftRule, 'chain' | 'handle' | 'comment'>;

export interface NftChain {
  family: string;
  table: string;
  name: string;
  handle: number;
  type?: string;
  hook?: string;
  prio?: number;
}

/**
 * `nft -j list <args>` as objects; `null` when the listed table/chain does not exist or nft
 * is not installed (nothing of ours can exist then).
 */
export async function nftList(args: string[]): Promise<NftObject[] | null> {
  const r = await run('nft', ['-j', 'list', ...args]);
  if (r.code !== 0) {
    if (r.code === 127 || /ENOENT|No such file or directory/.test(r.stderr)) return null;
    throw new NftError(`nft list ${args.join(' ')}`, r.stderr);
  }
  try {
    const parsed = JSON.parse(r.stdout) as { nftables?: NftObject[] };
    return parsed.nftables ?? [];
  } catch {
    throw new CniError(ErrorCode.FirewallFailed, `nft -j list ${args.join(' ')}: unparseable output`);
  }
}

export const rulesOf = (objs: NftObject[]): NftRule[] => objs.filter((o) => o.rule).map((o) => o.rule as NftRule);
export const chainsOf = (objs: NftObject[]): NftChain[] => objs.filter((o) => o.chain).map((o) => o.chain as NftChain);

/** A value placed inside a double-quoted string of the nft text syntax (which has no escapes). */
export function nftQuoted(s: string): string {
  if (/["\p{Cc}]/u.test(s)) throw new CniError(ErrorCode.InvalidConfig, `value not usable in an nftables comment: ${JSON.stringify(s)}`);
  return `"${s}"`;
}
