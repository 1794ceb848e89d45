// The loopback plugin: `lo` up in the pod's namespace (the kernel then gives it 127.0.0.1/8 and,
// with IPv6, ::1/128). The result names `lo` with those addresses in the requested version's shape;
// with a prevResult (chained) that is passed through instead, as the reference does. DEL sets `lo`
// down and succeeds when the namespace is already gone. No host-side state: GC has nothing to do.
import { prevResultOf } from '../../lib/cni/attachments.ts';
import type { Plugin, Request } from '../../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import type { IPConfig, Result } from '../../lib/cni/types.ts';
import { ipBatch, link, NetnsUnreachable } from '../../lib/kernel/iproute.ts';
import type { LinkInfo } from '../../lib/kernel/shapes.ts';

/**
 * 127.0.0.0/8 and ::1, for an address as the kernel reports it (dotted quad, or IPv6 in its
 * canonical text): no address parser, so DEL and STATUS, which load this module, load no ip-num.
 */
const isLoopback = (family: string, local: string): boolean => (family === 'inet' ? local.startsWith('127.') : local === '::1');

/** The addresses of `lo`, first of each family; any address outside loopback is an error (as in the reference). */
export function loopbackAddresses(lo: LinkInfo): IPConfig[] {
  const ips: IPConfig[] = [];
  for (const family of ['inet', 'inet6']) {
    const addrs = (lo.addr_info ?? []).filter((a) => a.family === family);
    const foreign = addrs.find((a) => !isLoopback(family, a.local));
    if (foreign) throw new CniError(ErrorCode.InterfaceConflict, `loopback interface found with non-loopback address "${foreign.local}"`);
    if (addrs[0]) ips.push({ interface: 0, address: `${addrs[0].local}/${addrs[0].prefixlen}` });
  }
  return ips;
}

async function add(req: Request): Promise<Result> {
  const { netns } = req.env;
  const prev = await prevResultOf(req);
  await ipBatch({ netns }, [{ kind: 'link-set', dev: 'lo', up: true }]);
  const lo = await link({ netns }, 'lo', { addresses: true });
  if (!lo) throw new CniError(ErrorCode.KernelCommandFailed, `no loopback interface in ${netns}`);
  const ips = loopbackAddresses(lo);
  if (prev) return prev;
  return { cniVersion: '1.1.0', interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: netns }], ips };
}

async function del(req: Request): Promise<void> {
  // An empty, missing or unmounted CNI_NETNS: nothing is left to bring down.
  if (req.netnsState !== 'ok') return;
  try {
    await ipBatch({ netns: req.env.netns }, [{ kind: 'link-set', dev: 'lo', up: false }]);
  } catch (e) {
    if (!(e instanceof NetnsUnreachable)) throw e; // deleted between the check and now
  }
}

async function check(req: Request): Promise<void> {
  const lo = await link({ netns: req.env.netns }, 'lo');
  if (!lo) throw new CniError(ErrorCode.CheckFailed, `no loopback interface in ${req.env.netns}`);
  if (!(lo.flags ?? []).includes('UP')) throw new CniError(ErrorCode.CheckFailed, 'loopback interface is down');
}

const nothing = async (): Promise<void> => undefined;

/** Like the reference, loopback never reads CNI_ARGS: any value is accepted there. */
export const loopback: Plugin = { name: 'loopback', readsCniArgs: false, add, del, check, gc: nothing, status: nothing };
