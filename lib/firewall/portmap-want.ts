// What portmap asks its firewall drivers for (lib/firewall/portmap-iptables.ts, portmap-nft.ts):
// validated port mappings and the pod's addresses, and the small pure helpers both drivers share.
import type { Cidr, Family } from '../net/address.ts';

export type Protocol = 'tcp' | 'udp' | 'sctp';
export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
  /** Only this host address answers (canonical text); undefined = every local address. */
  hostIP?: string;
  /**
   * The family `hostIP` selects. Set also for an unspecified hostIP (`0.0.0.0`, `::`), which, as
   * in the reference, only restricts the mapping to its family.
   */
  hostFamily?: Family;
}

export interface HostportWant {
  /** In the order the runtime gave them (rule order, and so precedence, follows it). */
  mappings: PortMapping[];
  /** The pod's first address of each family, with its prefix; a family without one gets no rules. */
  pod: Partial<Record<Family, Cidr>>;
  /** Masquerade hairpin and localhost traffic to the mappings (`snat`, default true). */
  snat: boolean;
  /** Hairpin masquerade for every source instead of the pod's network (`masqAll`). */
  masqAll: boolean;
  /** The iptables masquerade mark, `1 << markMasqBit`. */
  mark: number;
  /** iptables: jump here to request masquerade instead of CNI-HOSTPORT-SETMARK (e.g. KUBE-MARK-MASQ). */
  externalSetMarkChain?: string;
  /** Extra match arguments (iptables: per entry rule; nftables: before the hook chains' jump). */
  conditions: Record<Family, string[]>;
}

export const FAMILIES: readonly Family[] = [4, 6];

/** The mappings that apply to one family: those without a hostIP, or with a hostIP of that family. */
export const mappingsOf = (want: HostportWant, family: Family): PortMapping[] =>
  want.mappings.filter((m) => m.hostFamily === undefined || m.hostFamily === family);

/** Go's `%#x`: the mark as iptables prints it. */
export const hexMark = (n: number): string => `0x${n.toString(16)}`;

/** `ip:port`, IPv6 in brackets (Go's net.JoinHostPort). */
export const joinHostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** Families the want has a pod address for, v4 first. */
export const familiesOf = (want: HostportWant): Family[] => FAMILIES.filter((f) => want.pod[f]);
