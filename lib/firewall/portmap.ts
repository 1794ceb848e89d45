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
  withSetupLoadedLater,
} from './driver.ts';
import { iptablesHostportsRemoval } from './portmap-iptables.ts';
import { nftHostportsRemoval } from './portmap-nft.ts';
import type { HostportWant } from './portmap-want.ts';

/**
 * ADD and CHECK want the pod's addresses, and their halves of the drivers (which parse addresses)
 * are loaded for ADD and CHECK only: DEL and GC find rules by name and comment alone.
 */
const iptablesSetup = () => import('./portmap-iptables-setup.ts');
const nftSetup = () => import('./portmap-nft-setup.ts');
const DRIVERS: FirewallDrivers<HostportWant> = {
  iptables: withSetupLoadedLater(iptablesHostportsRemoval, async () => (await iptablesSetup()).iptablesHostportsSetup),
  nftables: withSetupLoadedLater(nftHostportsRemoval, async () => (await nftSetup()).nftHostportsSetup),
};

export const setupHostports = (backend: FirewallBackend, a: Attachment, want: HostportWant): Promise<void> =>
  DRIVERS[backend].setup(a, want);

/** Both backends, in parallel; absent rules (or an absent backend) are not an error. */
export const teardownHostports = (a: Attachment): Promise<void> => teardownEveryBackend(DRIVERS, 'portmap teardown', a);

export const checkHostports = (backend: FirewallBackend, a: Attachment, want: HostportWant): Promise<void> =>
  checkWithBackend(DRIVERS, backend, 'host ports', a, want);

/** The host ports of `network`'s attachments not in `valid` (iptables; see nftHostportsRemoval for nftables). */
export const gcHostports = (network: string, valid: readonly AttachmentKey[]): Promise<void> =>
  gcEveryBackend(DRIVERS, 'portmap GC', network, valid);
