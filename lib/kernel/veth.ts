// Creating the veth pair of an attachment. The pair is created from inside the pod namespace with
// the peer placed directly into our (host) namespace in the same netlink request, as the
// reference does: a failure can never leave one end behind in the wrong namespace.
import { CniError, ErrorCode } from '../cni/errors.ts';
import { randomMac } from '../net/mac.ts';
import { randomBytesHex } from '../platform/hash.ts';
import { BatchError, ipBatch, ipJson, NetnsUnreachable } from './iproute.ts';

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

/** The single `ip` batch line that creates the pair; `hostPid` names our network namespace. */
export function planCreateVeth(v: Required<Pick<VethRequest, 'ifname'>> & Veth & { mtu?: number }, hostPid: number): string {
  const mtu = v.mtu ? ` mtu ${v.mtu}` : '';
  return `link add ${v.ifname} address ${v.containerMac}${mtu} type veth peer name ${v.hostName} address ${v.hostMac}${mtu} netns ${hostPid}`;
}

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
      const inPod = await ipJson({ netns: req.netns }, ['link', 'show', 'dev', req.ifname]);
      if (inPod.length) {
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
    await ipBatch({ netns }, [`link del dev ${ifname}`]);
    return true;
  } catch (e) {
    if (e instanceof BatchError && e.missing) return false;
    if (e instanceof NetnsUnreachable) return false; // the namespace vanished meanwhile
    throw e;
  }
}
