// portmap's host ports (DNAT from node addresses to a pod), with the reference's two backends as
// drivers of one contract (lib/firewall/driver.ts): iptables (lib/firewall/portmap-iptables.ts) and
// nftables (lib/firewall/portmap-nft.ts). Kernel state is laid out as the reference lays it out, so
// a DEL or CHECK by either implementation works on what the other made. Teardown always covers
// both backends: an attachment may have been made by another version or with another `backend`.
import {
  type Attachment,
  type AttachmentKey,
  checkWithBackend,
  type FirewallBackend,
  type FirewallDrivers,
  gcEveryBackend,
  teardownEveryBackend,
} from './driver.ts';
import { iptablesHostports } from './portmap-iptables.ts';
import { nftHostports } from './portmap-nft.ts';
import type { HostportWant } from './portmap-want.ts';

const DRIVERS: FirewallDrivers<HostportWant> = { iptables: iptablesHostports, nftables: nftHostports };

export const setupHostports = (backend: FirewallBackend, a: Attachment, want: HostportWant): Promise<void> =>
  DRIVERS[backend].setup(a, want);

/** Both backends, in parallel; absent rules (or an absent backend) are not an error. */
export const teardownHostports = (a: Attachment): Promise<void> => teardownEveryBackend(DRIVERS, 'portmap teardown', a);

export const checkHostports = (backend: FirewallBackend, a: Attachment, want: HostportWant): Promise<void> =>
  checkWithBackend(DRIVERS, backend, 'host ports', a, want);

/** The host ports of `network`'s attachments not in `valid` (iptables; see nftHostports for nftables). */
export const gcHostports = (network: string, valid: readonly AttachmentKey[]): Promise<void> =>
  gcEveryBackend(DRIVERS, 'portmap GC', network, valid);
