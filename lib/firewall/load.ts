// The firewall modules, loaded by the calls that use them: most attachments have neither
// masquerade nor a spoof check, and the standalone build then never reads their code
// (plugins/main.ts).
export const loadMasquerade = () => import('./masquerade.ts');
export const loadSpoofCheck = () => import('./spoofcheck.ts');
