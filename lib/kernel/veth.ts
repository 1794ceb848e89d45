// Creating and deleting the veth pair of an attachment. The pair is created from inside the pod
// namespace with the peer placed directly into our (host) namespace in the same netlink request,
// as the reference does: a failure can never leave one end behind in the wrong namespace.
import { CniError, ErrorCode } from '../cni/errors.ts';
import type { Result } from '../cni/types.ts';
import { randomMac } from '../net/mac.ts';
import { randomBytesHex } from '../platform/hash.ts';
import type { LinkDel, VethAdd } from './ip-ops.ts';
import { BatchError, ipBatch, link, NetnsUnreachable } from './iproute.ts';
import { HOST, type LinkInfo } from './shapes.ts';

export interface VethRequest {
  netns: string;
  ifname: string;
  mtu?: number;
  /** Container-side MAC; random when absent. */
  containerMac?: string;
  /** Host-side MAC; random when absent. */
  hostMac?: string;
  /** Host-side name; a random `veth` + 8 hex name when absent (retried on collision). */
  hostName?: string;
}

export interface Veth {
  hostName: string;
  hostMac: string;
  containerMac: string;
}

export const randomVethName = (): string => `veth${randomBytesHex(4)}`;

/** The operation that creates the pair; `hostPid` names our network namespace. */
export function planCreateVeth(v: Required<Pick<VethRequest, 'ifname'>> & Veth & { mtu?: number }, hostPid: number): VethAdd {
  return {
    kind: 'veth-add',
    name: v.ifname,
    mac: v.containerMac,
    mtu: v.mtu,
    peer: { name: v.hostName, mac: v.hostMac, mtu: v.mtu, netnsPid: hostPid },
  };
}

/** Deleting one end of a pair deletes both. */
export const planDeleteLink = (dev: string): LinkDel => ({ kind: 'link-del', dev });

export async function createVeth(req: VethRequest): Promise<Veth> {
  const containerMac = req.containerMac ?? randomMac();
  const hostMac = req.hostMac ?? randomMac();
  for (let attempt = 0; attempt < 10; attempt++) {
    const hostName = req.hostName ?? randomVethName();
    try {
      await ipBatch({ netns: req.netns }, [
        planCreateVeth({ ifname: req.ifname, hostName, hostMac, containerMac, mtu: req.mtu }, process.pid),
      ]);
      return { hostName, hostMac, containerMac };
    } catch (e) {
      if (!(e instanceof BatchError) || !e.exists) throw e;
      if (await link({ netns: req.netns }, req.ifname)) {
        throw new CniError(ErrorCode.InterfaceConflict, `container interface "${req.ifname}" already exists in ${req.netns}`);
      }
      if (req.hostName) {
        throw new CniError(ErrorCode.InterfaceConflict, `host interface "${req.hostName}" already exists`);
      }
    }
  }
  throw new CniError(ErrorCode.InterfaceConflict, 'could not find a free host veth name after 10 attempts');
}

/** Delete the container end (the host end goes with it); an absent link or netns is success. */
export async function deleteContainerVeth(netns: string, ifname: string): Promise<boolean> {
  try {
    await ipBatch({ netns }, [planDeleteLink(ifname)]);
    return true;
  } catch (e) {
    if (e instanceof BatchError && e.missing) return false;
    if (e instanceof NetnsUnreachable) return false; // the namespace vanished meanwhile
    throw e;
  }
}

/**
 * DEL when the pod namespace is gone from its path: the host end named in prevResult may still
 * exist (a namespace held open elsewhere keeps the pair alive). It is deleted once it is shown to
 * be a veth and `isThisAttachments` proves it belongs to this attachment (each plugin knows how);
 * failures are ignored, as the namespace's own teardown deletes the pair too.
 * `notHostVeth` are the result's interfaces that are not it (the pod end, a bridge).
 */
export async function deleteOrphanHostVeth(
  prev: Result | undefined,
  notHostVeth: string[],
  isThisAttachments: (veth: LinkInfo) => boolean | Promise<boolean>,
): Promise<void> {
  const entry = prev?.interfaces?.find((i) => !i.sandbox && !notHostVeth.includes(i.name));
  if (!entry) return;
  const veth = await link(HOST, entry.name);
  if (veth?.linkinfo?.info_kind !== 'veth' || !(await isThisAttachments(veth))) return;
  await ipBatch(HOST, [planDeleteLink(entry.name)]).catch(() => undefined);
}
