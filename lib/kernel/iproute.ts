// The kernel interface: iproute2 `ip` in the host namespace or inside a pod namespace entered by
// path (`ip -n`, see below). Changes go through `ip -batch -` (one spawn for many commands); state is read
// with `ip -json`. A failing batch names the command that failed.
// The standalone build answers the same batches and queries over its own netlink socket
// (lib/kernel/netlink-ip.ts) instead of spawning `ip`; whatever it does not understand still goes to `ip`.
import { CniError, ErrorCode } from '../cni/errors.ts';
import { type ExecResult, run } from '../platform/exec.ts';
import { NetlinkError, available as netlinkAvailable } from './netlink.ts';
import * as netlinkIp from './netlink-ip.ts';

/** Where to run: the plugin's own (host) namespace, or a netns path. */
export type Where = { netns?: string };
export const HOST: Where = {};

/**
 * `ip -n NAME` opens `<netns run dir>/NAME`, and `..` at `/` stays at `/`: so enough `..` in front
 * of an absolute path lets `ip` enter any namespace file itself (`/proc/<pid>/ns/net` included),
 * one exec instead of `nsenter` + `ip`. Relative paths go through nsenter.
 */
const ROOTWARD = '../../../../../../../..';
function command(where: Where, args: string[]): [string, string[]] {
  if (!where.netns) return ['ip', args];
  if (where.netns.startsWith('/')) return ['ip', ['-n', ROOTWARD + where.netns, ...args]];
  return ['nsenter', [`--net=${where.netns}`, '--', 'ip', ...args]];
}

/** stderr of a failure to enter the namespace at all (it vanished, or is not a namespace). */
export const cannotEnterNetns = (stderr: string): boolean =>
  /Cannot open network namespace|setting the network namespace|nsenter/.test(stderr);

export async function runIp(where: Where, args: string[], input?: string): Promise<ExecResult> {
  const [file, argv] = command(where, args);
  return run(file, argv, input === undefined ? {} : { input });
}

/** The namespace could not be entered at all (it vanished, or is not a network namespace). */
export class NetnsUnreachable extends CniError {
  constructor(netns: string, why: string) {
    super(ErrorCode.KernelCommandFailed, `cannot enter network namespace ${netns}`, why.trim().slice(0, 300));
  }
}

export class BatchError extends CniError {
  constructor(
    readonly failedLine: string,
    readonly stderr: string,
  ) {
    super(ErrorCode.KernelCommandFailed, `ip ${failedLine}: ${firstError(stderr)}`);
  }
  /** True when the kernel said the object already exists. */
  get exists(): boolean {
    return /File exists|already exists/i.test(this.stderr);
  }
  get missing(): boolean {
    return /Cannot find device|No such device|No such process|does not exist|Cannot find/i.test(this.stderr);
  }
}

function firstError(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l && !/^Command failed/.test(l));
  return (lines[0] ?? stderr.trim()).slice(0, 300);
}

/**
 * Run `lines` as one `ip -batch`. iproute2 stops at the first failing line and reports
 * "Command failed -:N"; that line is named in the error. Lines are built by plan code from
 * validated values only (no whitespace, quotes or '#').
 */
export async function ipBatch(where: Where, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  if (netlinkAvailable()) {
    let done;
    try {
      done = await netlinkIp.runBatch(where.netns ?? '', lines);
    } catch (e) {
      if (e instanceof NetlinkError) throw new NetnsUnreachable(where.netns ?? '', e.text);
      throw e;
    }
    if (done?.failed) throw new BatchError(done.failed.line, done.failed.text);
    if (done) return;
  }
  const r = await runIp(where, ['-batch', '-'], `${lines.join('\n')}\n`);
  if (r.code === 0) return;
  const m = /Command failed -:(\d+)/.exec(r.stderr);
  const failed = m ? (lines[Number(m[1]) - 1] ?? '') : lines.join('; ');
  if (where.netns && cannotEnterNetns(r.stderr) && !m) {
    throw new NetnsUnreachable(where.netns, r.stderr);
  }
  throw new BatchError(failed, r.stderr);
}

/** What iproute2 (and lib/kernel/netlink-ip.ts, in its words) says when the object is not there. */
const NOT_FOUND = /does not exist|Cannot find device|No such/i;

/** `ip -json <args>`; returns [] when the object does not exist. */
export async function ipJson<T = Record<string, unknown>>(where: Where, args: string[]): Promise<T[]> {
  if (netlinkAvailable()) {
    try {
      const answer = netlinkIp.query(where.netns ?? '', args);
      if (answer) return answer as T[];
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e;
      if (NOT_FOUND.test(e.text)) return [];
      throw new CniError(ErrorCode.KernelCommandFailed, `ip ${args.join(' ')}: ${e.text}`);
    }
  }
  const r = await runIp(where, ['-json', ...args]);
  if (r.code !== 0) {
    if (NOT_FOUND.test(r.stderr)) return [];
    throw new CniError(ErrorCode.KernelCommandFailed, `ip ${args.join(' ')}: ${firstError(r.stderr)}`);
  }
  const text = r.stdout.trim();
  if (!text) return [];
  try {
    return JSON.parse(text) as T[];
  } catch {
    throw new CniError(ErrorCode.KernelCommandFailed, `ip -json ${args.join(' ')}: unparseable output`);
  }
}

export interface LinkInfo {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  operstate?: string;
  master?: string;
  link?: string;
  link_index?: number;
  link_netnsid?: number;
  promiscuity?: number;
  linkinfo?: {
    info_kind?: string;
    info_slave_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_data?: Record<string, unknown>;
  };
  addr_info?: Array<{ family: string; local: string; prefixlen: number; scope?: string; dadfailed?: boolean; tentative?: boolean }>;
}

export interface RouteInfo {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  protocol?: string;
  prefsrc?: string;
  metric?: number;
  table?: string;
  flags?: string[];
}

/**
 * Several `ip -json` queries in one spawn. Only for commands that cannot fail (e.g. `link show`,
 * `addr show`, `route show table all`): a failing command would abort the batch.
 */
export async function ipJsonBatch(where: Where, commands: string[], details = false): Promise<unknown[][]> {
  if (netlinkAvailable()) {
    try {
      const answers = netlinkIp.queryBatch(where.netns ?? '', commands);
      if (answers) return answers;
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e;
      throw new CniError(ErrorCode.KernelCommandFailed, `ip ${commands.join('; ')}: ${e.text}`);
    }
  }
  const r = await runIp(where, ['-json', ...(details ? ['-details'] : []), '-batch', '-'], `${commands.join('\n')}\n`);
  if (r.code !== 0) throw new CniError(ErrorCode.KernelCommandFailed, `ip ${commands.join('; ')}: ${firstError(r.stderr)}`);
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  try {
    return lines.map((l) => JSON.parse(l) as unknown[]);
  } catch {
    throw new CniError(ErrorCode.KernelCommandFailed, 'ip -json -batch: unparseable output');
  }
}
