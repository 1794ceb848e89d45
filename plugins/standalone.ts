// Entry of the standalone executable (scripts/build-standalone.mjs). It is bundled and compiled to
// bytecode once per plugin, with CNI_TS_PLUGIN defined as that plugin's name, so each bytecode
// holds only the code its plugin runs: lib/platform/qjs/host.c picks one by the name the executable was
// invoked by and never reads the others (reading bytecode is most of a QuickJS start-up).
// The runtime surface QuickJS lacks (lib/platform/qjs/prelude.ts) is evaluated by host.c before this.

import { registerInProcessPlugin } from '../lib/cni/delegate.ts';
import type { Plugin } from '../lib/cni/dispatch.ts';
import { main } from '../lib/cni/stdio.ts';

declare const CNI_TS_PLUGIN: 'bridge' | 'host-local' | 'ptp' | 'portmap' | 'loopback';

const hostLocal = (): Promise<Plugin> => import('../ipam/host-local.ts').then((m) => m.hostLocal);
// bridge and ptp delegate IPAM; when CNI_PATH's host-local is this executable, it runs in-process.
// (portmap and loopback delegate nothing; registering costs nothing until a delegation happens.)
registerInProcessPlugin('host-local', hostLocal);

// Conditions on the build-time constant: the bundler drops the imports of the other plugins.
const load: () => Promise<Plugin> =
  CNI_TS_PLUGIN === 'bridge'
    ? () => import('./bridge/plugin.ts').then((m) => m.bridge)
    : CNI_TS_PLUGIN === 'ptp'
      ? () => import('./ptp/plugin.ts').then((m) => m.ptp)
      : CNI_TS_PLUGIN === 'portmap'
        ? () => import('./portmap/plugin.ts').then((m) => m.portmap)
        : CNI_TS_PLUGIN === 'loopback'
          ? () => import('./loopback/plugin.ts').then((m) => m.loopback)
          : hostLocal;

// STATUS, which a runtime polls every few seconds, has a module of its own.
const loadStatus: () => Promise<Plugin['status']> =
  CNI_TS_PLUGIN === 'bridge'
    ? () => import('./bridge/status.ts').then((m) => m.status)
    : CNI_TS_PLUGIN === 'ptp'
      ? () => import('./ptp/status.ts').then((m) => m.status)
      : CNI_TS_PLUGIN === 'portmap'
        ? () => import('./portmap/status.ts').then((m) => m.status)
        : CNI_TS_PLUGIN === 'loopback'
          ? () => import('./loopback/plugin.ts').then((m) => m.loopback.status)
          : () => hostLocal().then((p) => p.status);

/**
 * The plugin, loaded when a command first needs it: VERSION (libcni asks it before every ADD on
 * CNI 1.1) and input errors are answered without reading or running the plugin's code.
 */
function lazy(name: string, entersNetns: boolean, readsCniArgs: boolean): Plugin {
  return {
    name,
    entersNetns,
    readsCniArgs,
    add: async (req) => (await load()).add(req),
    del: async (req) => (await load()).del(req),
    check: async (req) => (await load()).check(req),
    gc: async (req) => (await load()).gc(req),
    status: async (req) => (await loadStatus())(req),
  };
}

// As the reference ones do: host-local and portmap work in the node's namespace only and accept
// any CNI_NETNS; portmap and loopback never read CNI_ARGS.
void main(
  lazy(
    CNI_TS_PLUGIN,
    CNI_TS_PLUGIN !== 'host-local' && CNI_TS_PLUGIN !== 'portmap',
    CNI_TS_PLUGIN !== 'portmap' && CNI_TS_PLUGIN !== 'loopback',
  ),
);
