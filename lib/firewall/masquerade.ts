// IP masquerade for pod addresses (`ipMasq`), with the reference's two backends as drivers of one
// contract (lib/firewall/driver.ts): iptables (lib/firewall/masquerade-iptables.ts) and nftables
// (lib/firewall/masquerade-nft.ts). Kernel state is the reference's, byte for byte, so a DEL by
// either implementation cleans up what the other made. Teardown and GC always cover both backends:
// an attachment may have been made by another version or with another `ipMasqBackend`.

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
import { iptablesMasqueradeRemoval } from './masquerade-iptables.ts';
import { nftMasqueradeRemoval } from './masquerade-nft.ts';

export { chooseBackend } from './backend.ts';

/** An attachment and its pod addresses (CIDR strings like "10.1.2.3/24"). */
export interface MasqTarget extends Attachment {
  ips: string[];
}

/**
 * The drivers get the pod addresses as what ADD and CHECK want. Their ADD and CHECK halves parse
 * those addresses and are loaded only for ADD and CHECK (lib/firewall/masquerade-setup.ts, with
 * lib/net/address.ts): DEL and GC find rules by name and comment alone.
 */
const setupHalves = () => import('./masquerade-setup.ts');
const DRIVERS: FirewallDrivers<string[]> = {
  iptables: withSetupLoadedLater(iptablesMasqueradeRemoval, async () => (await setupHalves()).iptablesMasqueradeSetup),
  nftables: withSetupLoadedLater(nftMasqueradeRemoval, async () => (await setupHalves()).nftMasqueradeSetup),
};

/** The attachment of a request: rules are found by (network, container ID, ifname). */
export const masqTarget = (req: { env: { containerID: string; ifname: string } }, network: string, ips: string[]): MasqTarget => ({
  network,
  containerID: req.env.containerID,
  ifname: req.env.ifname,
  ips,
});

export async function setupMasquerade(backend: FirewallBackend, t: MasqTarget): Promise<void> {
  if (t.ips.length) await DRIVERS[backend].setup(t, t.ips);
}

/** Both backends, in parallel; absent rules (or an absent backend) are not an error. */
export const teardownMasquerade = (t: Attachment): Promise<void> => teardownEveryBackend(DRIVERS, 'masquerade teardown', t);

export async function checkMasquerade(backend: FirewallBackend, t: MasqTarget): Promise<void> {
  if (t.ips.length) await checkWithBackend(DRIVERS, backend, 'masquerade', t, t.ips);
}

/** Remove every masquerade rule of `network` whose attachment is not in `valid`, in both backends. */
export const gcMasquerade = (network: string, valid: AttachmentKey[]): Promise<void> =>
  gcEveryBackend(DRIVERS, 'masquerade GC', network, valid);
