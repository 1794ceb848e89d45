// The kernel interface every plugin uses: apply a plan (a list of IpOp, lib/kernel/ip-ops.ts) and
// ask typed queries (links, routes), in our own (host) namespace or in a pod namespace given by path.
//  - Node build: `ip -batch -` (one process for a whole plan) and `ip -json -details`.
//  - Standalone build: our own netlink socket (lib/kernel/netlink-ip.ts), no process at all. An
//    operation it cannot encode sends the batch to `ip`, with a line on stderr saying so.
// Failures say what happened: a BatchError names the failed line and keeps the kernel's errno
// when netlink answered (`ip` only gives text, so there the text decides).
import { CniError, ErrorCode } from '../cni/errors.ts';
import { type ExecResult, run } from '../platform/exec.ts';
import { ERRNO } from '../platform/libc.ts';
import { warn } from '../platform/output.ts';
import { type Answer, type IpOp, type KernelQuery, type LinkQuery, queryArgs, type RouteQuery, toLine } from './ip-ops.ts';
import { isMissingErrno, NetlinkError, available as netlinkAvailable, socketFor } from './netlink.ts';
import * as netlinkIp from './netlink-ip.ts';
import type { LinkInfo, RouteInfo, Where } from './shapes.ts';

/**
 * The `ip` process for `args` in `where`. A pod namespace is a file path (CNI_NETNS, e.g.
 * /proc/PID/ns/net or /var/run/netns/NAME), which `ip -n` does not take: it only opens
 * /run/netns/NAME. nsenter(1) enters the namespace file itself (`--net=PATH`) and execs `ip`.
 * Measured per call on a 2-core machine: `ip` alone 1.7 ms, `nsenter --net=PATH ip` 2.6 ms.
 * The other documented way, bind-mounting PATH under /run/netns/<unique> for `ip -n`, costs a
 * mount, an umount and an rm around the call (8 ms in all) and leaves a mount behind when the
 * plugin is killed in between. The standalone build spawns neither (lib/kernel/netlink.ts).
 */
function command(where: Where, args: string[]): [string, string[]] {
  if (!where.netns) return ['ip', args];
  return ['nsenter', [`--net=${where.netns}`, '--', 'ip', ...args]];
}

/** stderr of nsenter failing to enter the namespace (it vanished, or is not a network namespace). */
const cannotEnterNetns = (stderr: string): boolean => /^nsenter: /m.test(stderr);

async function runIp(where: Where, args: string[], input?: string): Promise<ExecResult> {
  const [file, argv] = command(where, args);
  return run(file, argv, input === undefined ? {} : { input });
}

/** The namespace could not be entered at all (it vanished, or is not a network namespace). */
export class NetnsUnreachable extends CniError {
  constructor(netns: string, why: string) {
    super(ErrorCode.KernelCommandFailed, `cannot enter network namespace ${netns}`, why.trim().slice(0, 300));
  }
}

/** Standalone: our netlink socket in `where` (made once per process); failing to enter is NetnsUnreachable. */
function enter(where: Where): string {
  const netns = where.netns ?? '';
  try {
    socketFor(netns);
  } catch (e) {
    if (e instanceof NetlinkError) throw new NetnsUnreachable(netns, e.text);
    throw e;
  }
  return netns;
}

/** The first line of `ip`'s stderr that says what went wrong (not its "Command failed -:N"). */
function firstErrorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l && !/^Command failed/.test(l));
  return (lines[0] ?? stderr.trim()).slice(0, 300);
}

/** One line of a batch failed. `errno` is the kernel's when netlink answered; undefined from `ip`. */
export class BatchError extends CniError {
  constructor(
    readonly failedLine: string,
    readonly stderr: string,
    readonly errno?: number,
  ) {
    super(ErrorCode.KernelCommandFailed, `ip ${failedLine}: ${firstErrorLine(stderr)}`);
  }
  /** The kernel said the object already exists. */
  get exists(): boolean {
    if (this.errno !== undefined) return this.errno === ERRNO.EEXIST;
    return /File exists|already exists/i.test(this.stderr);
  }
  /** The kernel said the object (device, route) is not there. */
  get missing(): boolean {
    if (this.errno !== undefined) return isMissingErrno(this.errno);
    return /Cannot find device|No such device|No such process|does not exist|Cannot find/i.test(this.stderr);
  }
}

/**
 * Apply `ops` in order, stopping at the first failure (a BatchError naming that line). Under
 * Node one `ip -batch`: iproute2 stops at the first failing line and reports "Command failed -:N".
 */
export async function ipBatch(where: Where, ops: IpOp[]): Promise<void> {
  if (ops.length === 0) return;
  if (netlinkAvailable()) {
    const outcome = await netlinkIp.runBatch(enter(where), ops);
    if ('done' in outcome) return;
    if ('failed' in outcome) throw new BatchError(toLine(ops[outcome.failed]!), outcome.text, outcome.errno);
    warn(`cni-ts: netlink cannot send "${toLine(ops[outcome.unencodable]!)}" (${outcome.why}); running the batch with ip`);
  }
  const lines = ops.map(toLine);
  const r = await runIp(where, ['-batch', '-'], `${lines.join('\n')}\n`);
  if (r.code === 0) return;
  const m = /Command failed -:(\d+)/.exec(r.stderr);
  const failed = m ? (lines[Number(m[1]) - 1] ?? '') : lines.join('; ');
  if (where.netns && !m && cannotEnterNetns(r.stderr)) throw new NetnsUnreachable(where.netns, r.stderr);
  throw new BatchError(failed, r.stderr);
}

/** What iproute2 says when the device asked for is not there. */
const NOT_FOUND = /does not exist|Cannot find device|No such/i;

/** The answers to one query (through netlink) or its `ip -json -details` output. */
async function askOne(where: Where, q: KernelQuery): Promise<unknown[]> {
  const args = queryArgs(q);
  if (netlinkAvailable()) {
    const netns = enter(where);
    // Only a route-get and a routes query for one destination carry an address to encode
    // (lib/net/address.ts and ip-num, loaded then).
    const encodes = q.kind === 'route-get' || (q.kind === 'routes' && q.dst !== undefined);
    const encodeAddress = encodes ? (await import('./address-bytes.ts')).addressBytes : undefined;
    try {
      return netlinkIp.answer(netns, q, encodeAddress);
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e;
      throw new CniError(ErrorCode.KernelCommandFailed, `ip ${args.join(' ')}: ${e.text}`);
    }
  }
  const r = await runIp(where, ['-json', '-details', ...args]);
  if (r.code !== 0) {
    if (where.netns && cannotEnterNetns(r.stderr)) throw new NetnsUnreachable(where.netns, r.stderr);
    if (q.kind === 'links' && q.dev !== undefined && NOT_FOUND.test(r.stderr)) return [];
    throw new CniError(ErrorCode.KernelCommandFailed, `ip ${args.join(' ')}: ${firstErrorLine(r.stderr)}`);
  }
  return parseJson(r.stdout.trim() || '[]', args);
}

function parseJson(text: string, args: string[]): unknown[] {
  try {
    return JSON.parse(text) as unknown[];
  } catch {
    throw new CniError(ErrorCode.KernelCommandFailed, `ip -json ${args.join(' ')}: unparseable output`);
  }
}

/**
 * Several queries in one round trip, each answer typed by its query. Under Node, queries that
 * cannot fail (no device named) and name no family (`ip -batch` takes no `-4`/`-6` per line) share
 * one `ip -json -batch`; any other query is a process of its own, run alongside.
 */
export async function query<const Qs extends readonly KernelQuery[]>(
  where: Where,
  qs: Qs,
): Promise<{ -readonly [K in keyof Qs]: Answer<Qs[K]> }> {
  type Answers = { -readonly [K in keyof Qs]: Answer<Qs[K]> };
  const batchable =
    qs.length > 1 && qs.every((q) => (q.kind === 'links' ? q.dev === undefined : q.kind === 'routes' && q.family === undefined));
  if (netlinkAvailable() || !batchable) return (await Promise.all(qs.map((q) => askOne(where, q)))) as Answers;
  const lines = qs.map((q) => queryArgs(q).join(' '));
  const r = await runIp(where, ['-json', '-details', '-batch', '-'], `${lines.join('\n')}\n`);
  if (r.code !== 0) {
    if (where.netns && cannotEnterNetns(r.stderr)) throw new NetnsUnreachable(where.netns, r.stderr);
    throw new CniError(ErrorCode.KernelCommandFailed, `ip ${lines.join('; ')}: ${firstErrorLine(r.stderr)}`);
  }
  const out = r.stdout.split('\n').filter((l) => l.trim() !== '');
  return out.map((l) => parseJson(l, ['-batch'])) as Answers;
}

/** Links (all, or the one named `dev`: [] when it does not exist), with their addresses if asked. */
export async function links(where: Where, opts: Omit<LinkQuery, 'kind'> = {}): Promise<LinkInfo[]> {
  const [answer] = await query(where, [{ kind: 'links', ...opts }]);
  return answer;
}

/** The link named `name`, or undefined. */
export async function link(where: Where, name: string, opts: { addresses?: boolean } = {}): Promise<LinkInfo | undefined> {
  return (await links(where, { ...opts, dev: name }))[0];
}

/** Routes of the main table (or all tables), of one family or both (`table: 'all'` only). */
export async function routes(where: Where, opts: Omit<RouteQuery, 'kind'>): Promise<RouteInfo[]> {
  const [answer] = await query(where, [{ kind: 'routes', ...opts }]);
  return answer;
}
