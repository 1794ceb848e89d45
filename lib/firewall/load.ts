// The firewall modules, loaded by the calls that use them: most attachments have neither
// masquerade nor a spoof check, and the standalone build then never reads their code
// (plugins/main.ts).
import type { UndoStack } from '../platform/steps.ts';
import type { FirewallBackend } from './driver.ts';

export const loadMasquerade = () => import('./masquerade.ts');
export const loadSpoofCheck = () => import('./spoofcheck.ts');

/**
 * DEL's masquerade step (bridge, ptp): the attachment's rules, found by (network, container ID,
 * ifname) alone, never by addresses read off the interface or from prevResult.
 */
export async function teardownMasqueradeOf(req: AttachmentRequest, network: string): Promise<void> {
  const { masqTarget, teardownMasquerade } = await loadMasquerade();
  await teardownMasquerade(masqTarget(req, network, []));
}

/** The request's attachment keys, as the masquerade drivers find rules by them. */
type AttachmentRequest = { env: { containerID: string; ifname: string } };

/**
 * ADD's masquerade step (bridge, ptp) for the pod addresses `ips`: its undo is registered before
 * the rules are written, so a failed ADD removes whatever part of them was made.
 */
export async function setupMasqueradeOf(
  undo: UndoStack,
  req: AttachmentRequest,
  network: string,
  ips: string[],
  requested: FirewallBackend | undefined,
): Promise<void> {
  const { chooseBackend, masqTarget, setupMasquerade, teardownMasquerade } = await loadMasquerade();
  const target = masqTarget(req, network, ips);
  const backend = await chooseBackend(requested);
  undo.push('masquerade', () => teardownMasquerade(target));
  await setupMasquerade(backend, target);
}

/** CHECK's masquerade step (bridge, ptp): the rules ADD wrote for `ips` are all there. */
export async function checkMasqueradeOf(
  req: AttachmentRequest,
  network: string,
  ips: string[],
  requested: FirewallBackend | undefined,
): Promise<void> {
  const { checkMasquerade, chooseBackend, masqTarget } = await loadMasquerade();
  await checkMasquerade(await chooseBackend(requested), masqTarget(req, network, ips));
}
