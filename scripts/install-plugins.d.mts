// Types of scripts/install-plugins.mjs for the TypeScript tests.
export interface InstallOptions {
  dir: string;
  standalone: boolean;
  force: boolean;
  dryRun: boolean;
  help: boolean;
}
export type InstallItem = { name: string; kind: 'file'; source: string } | { name: string; kind: 'link'; target: string };
export const PLUGINS: string[];
export const MULTICALL: string;
export function parseArgs(argv: string[]): InstallOptions;
export function classify(path: string): 'absent' | 'ours' | 'foreign';
export function planInstall(root: string, standalone: boolean): InstallItem[];
export function install(
  root: string,
  opts: InstallOptions,
  log?: (msg: string) => void,
): { installed: string[]; replacedForeign: string[] };
