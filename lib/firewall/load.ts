// The firewall modules, loaded by the calls that use them: most attachments have neither
// masquerade nor a spoof check, and the standalone build then never reads their code
// (plugins/main.ts).
export const loadMasquerade = () => import('./masquerade.ts');

/**
 * DEL's masquerade step (bridge, ptp): the attachment's rules are found by (network, container ID,
 * ifname), never by reading addresses off the interface; prevResult's addresses only help find the
 * reference's per-address rules.
 */
export async function teardownMasqueradeOf(
  req: { env: { containerID: string; ifname: string } },
  network: string,
  prev: { ips?: readonly { address: string }[] } | undefined,
): Promise<void> {
  const { masqTarget, teardownMasquerade } = await loadMasquerade();
  await teardownMasquerade(
    masqTarget(
      req,
      network,
      (prev?.ips ?? []).map((i) => i.address),
    ),
  );
}
export const loadSpoofCheck = () => import('./spoofcheck.ts');
