// Entry of the standalone multi-call executable `cni-ts` (scripts/build-standalone.mjs).
// One binary serves every plugin: `bridge`, `host-local` and `ptp` are links to it and it picks
// the plugin from the name it was invoked by, or from its first argument (`cni-ts bridge`).
// Every plugin is registered for in-process delegation: when bridge/ptp find `host-local` in
// CNI_PATH and that file resolves to this very executable (realpath == process.execPath),
// lib/delegate.ts runs it in-process instead of paying a second process start.
import type { Plugin } from '../lib/dispatch.ts';
import { registerInProcessPlugin } from '../lib/delegate.ts';
import { main } from '../lib/stdio.ts';
import { invokedName, selectPluginName } from './select-plugin.ts';
import { warn } from '../lib/output.ts';

/** Found by scripts/install-plugins.mjs inside an installed executable to recognise it as ours. */
export const MULTICALL_MARKER = 'cni-ts multi-call executable';

// Loaded on demand: setting up the modules of plugins this call does not run costs start-up time.
const plugins: Record<string, () => Promise<Plugin>> = {
  bridge: () => import('./bridge/plugin.ts').then((m) => m.bridge),
  'host-local': () => import('../ipam/host-local.ts').then((m) => m.hostLocal),
  ptp: () => import('./ptp/plugin.ts').then((m) => m.ptp),
};
const names = Object.keys(plugins);
const name = selectPluginName(invokedName(process), process.argv.slice(2), names);
if (name === undefined) {
  warn(`${MULTICALL_MARKER}; usage: cni-ts <${names.join('|')}>, or invoke it through a link named after the plugin\n`);
  process.exitCode = 1;
} else {
  for (const [n, load] of Object.entries(plugins)) registerInProcessPlugin(n, load);
  void plugins[name]!().then(main);
}
