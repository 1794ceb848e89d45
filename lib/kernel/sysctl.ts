// sysctls: written directly under /proc/sys in our own namespace; inside a pod namespace through
// one `nsenter … sysctl -w` for all keys (a /proc/sys file belongs to the namespace of whoever
// opens it, so a process inside the pod namespace has to open it) — or, in the standalone build,
// by this very thread after switching into the pod namespace (lib/kernel/netlink.ts), with no process.

import { CniError, ErrorCode } from '../cni/errors.ts';
import { run } from '../platform/exec.ts';
import { closeSync, constants, openSync, readFileSync, writeSync } from '../platform/fs.ts';
import { inNetns, available as inProcessNamespaces, NetlinkError } from './netlink.ts';
import type { Where } from './shapes.ts';

/** e.g. "net/ipv4/conf/eth0/arp_notify" → value; keys are built from validated names. */
export type Sysctls = Record<string, string>;

/** Keys are slash-separated ("net/ipv4/conf/eth0.1/arp_notify") so interface names may hold dots. */
export const sysctlPath = (key: string): string => `/proc/sys/${key}`;

export function readHostSysctl(key: string): string | null {
  try {
    return readFileSync(sysctlPath(key), 'utf8').trim();
  } catch {
    return null;
  }
}

/** Write one sysctl file (never created: a key the kernel lacks fails with ENOENT). */
function writeSysctl(key: string, value: string): void {
  const fd = openSync(sysctlPath(key), constants.O_WRONLY);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

export async function writeSysctls(where: Where, values: Sysctls, opts: { bestEffort?: string[] } = {}): Promise<void> {
  const keys = Object.keys(values);
  if (keys.length === 0) return;
  const optional = new Set(opts.bestEffort ?? []);
  if (!where.netns) {
    for (const k of keys) {
      try {
        if (readHostSysctl(k) === values[k]) continue; // avoid needless writes (and their side effects)
        writeSysctl(k, values[k]!);
      } catch (e) {
        if (!optional.has(k))
          throw new CniError(ErrorCode.KernelCommandFailed, `failed to set sysctl ${k}=${values[k]}`, (e as Error).message);
      }
    }
    return;
  }
  if (inProcessNamespaces()) {
    // This thread inside the pod namespace, where /proc/sys/net is the pod's (synchronous: see lib/kernel/netlink.ts).
    const failed: Array<{ key: string; error: NodeJS.ErrnoException }> = [];
    try {
      inNetns(where.netns, () => {
        for (const k of keys) {
          try {
            writeSysctl(k, values[k]!);
          } catch (e) {
            failed.push({ key: k, error: e as NodeJS.ErrnoException });
          }
        }
      });
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e;
      throw new CniError(ErrorCode.KernelCommandFailed, `failed to set sysctl(s) ${keys.join(', ')} in ${where.netns}`, e.text);
    }
    // As `sysctl -e`: a key the kernel does not have (no IPv6) is skipped.
    const fatal = failed.filter((f) => f.error.code !== 'ENOENT' && !optional.has(f.key));
    if (fatal.length) {
      const why = fatal.map((f) => `${f.key}: ${f.error.message}`).join('; ');
      throw new CniError(
        ErrorCode.KernelCommandFailed,
        `failed to set sysctl(s) ${fatal.map((f) => f.key).join(', ')} in ${where.netns}`,
        why,
      );
    }
    return;
  }
  // procps sysctl takes slash-separated keys verbatim (dots in interface names survive); "-e"
  // skips keys whose file does not exist (e.g. IPv6 knobs on a kernel without IPv6). A key with
  // "=" in it (legal in an interface name) would be split by sysctl: those go through tee.
  const [plain, withEquals] = [keys.filter((k) => !k.includes('=')), keys.filter((k) => k.includes('='))];
  const steps: Array<[string[], string | undefined, string[]]> = [];
  if (plain.length)
    steps.push([['sysctl', '-q', '-e', '-w', ...plain.map((k) => `${k}=${values[k]}`)], undefined, plain.filter((k) => !optional.has(k))]);
  for (const k of withEquals) steps.push([['tee', sysctlPath(k)], values[k], optional.has(k) ? [] : [k]]);
  for (const [argv, input, mustSucceed] of steps) {
    const r = await run('nsenter', [`--net=${where.netns}`, '--', ...argv], input === undefined ? {} : { input });
    if (r.code !== 0 && mustSucceed.length) {
      throw new CniError(
        ErrorCode.KernelCommandFailed,
        `failed to set sysctl(s) ${mustSucceed.join(', ')} in ${where.netns}`,
        r.stderr.trim().slice(0, 300),
      );
    }
  }
}
