// The firewall modules, loaded by the calls that use them: most attachments have neither
// masquerade nor a spoof check, and the standalone build then never reads their code
// (plugins/main.ts).
export const loadMasquerade = () => import('./masquerade.ts');
export const loadSpoofCheck = () => import('./spoofcheck.ts');

/**
 * DEL's masquerade step (bridge, ptp): the attachment's rules, found by (network, container ID,
 * ifname) alone, never by addresses read off the interface or from prevResult.
 */
export async function teardownMasqueradeOf(req: { env: { containerID: string; ifname: string } }, network: string): Promise<void> {
  const { masqTarget, teardownMasquerade } = await loadMasquerade();
  await teardownMasquerade(masqTarget(req, network, []));
}
