// Entry of every plugin executable, bundled once per plugin with CNI_TS_PLUGIN defined as its name
// (scripts/build.mjs), so each holds only the code its plugin runs. Each command loads what it
// uses when it runs (below): VERSION nothing beyond this module's imports, DEL and STATUS modules of
// their own. In the standalone executable (scripts/build-standalone.mjs) every lazy import is a
// bytecode module read on first import (lib/platform/qjs/host.c picks a plugin's by the name the
// executable was invoked by; reading bytecode is most of a QuickJS start-up), after the runtime
// surface QuickJS lacks (lib/platform/qjs/prelude.ts). In a Node bundle a lazily imported module's
// code runs only on first import, and execa, ip-num and zod with it.

import { registerInProcessPlugin } from '../lib/cni/delegate.ts';
import type { Plugin } from '../lib/cni/dispatch.ts';
import { main } from '../lib/cni/stdio.ts';

declare const CNI_TS_PLUGIN: 'bridge' | 'host-local' | 'ptp' | 'portmap' | 'loopback';

// The chunks are compiled without debug info, which takes away the file name QuickJS resolves a
// dynamic import() against: the build routes their import() calls through this one, made in this
// module, whose name they resolve against (scripts/build-standalone.mjs).
(globalThis as { __cniImport?: (specifier: string) => Promise<unknown> }).__cniImport = (specifier) => import(specifier);

const hostLocal = (): Promise<Plugin> => import('../ipam/host-local.ts').then((m) => m.hostLocal);
// bridge and ptp delegate IPAM; when CNI_PATH's host-local is this executable, it runs in-process.
// The others delegate nothing, and their builds drop the delegation code (and what it imports).
if (CNI_TS_PLUGIN === 'bridge' || CNI_TS_PLUGIN === 'ptp') registerInProcessPlugin('host-local', hostLocal);

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

// DEL, which needs no address arithmetic, has a module of its own (host-local's DEL is in its
// main module, which loads its ADD/CHECK/STATUS code itself; loopback is one small module).
const loadDel: () => Promise<Plugin['del']> =
  CNI_TS_PLUGIN === 'bridge'
    ? () => import('./bridge/del.ts').then((m) => m.del)
    : CNI_TS_PLUGIN === 'ptp'
      ? () => import('./ptp/del.ts').then((m) => m.del)
      : CNI_TS_PLUGIN === 'portmap'
        ? () => import('./portmap/del.ts').then((m) => m.del)
        : CNI_TS_PLUGIN === 'loopback'
          ? () => import('./loopback/plugin.ts').then((m) => m.loopback.del)
          : () => hostLocal().then((p) => p.del);

// STATUS, which a runtime polls every few seconds, has a module of its own.
const loadStatus: () => Promise<Plugin['status']> =
  CNI_TS_PLUGIN === 'bridge'
    ? () => import('./bridge/status.ts').then((m) => m.status)
    : CNI_TS_PLUGIN === 'ptp'
      ? () => import('./ptp/status.ts').then((m) => m.status)
      : CNI_TS_PLUGIN === 'portmap'
        ? () => import('./portmap/status.ts').then((m) => m.status)
        : CNI_TS_PLUGIN === 'loopback'
          ? async () => async () => undefined // nothing to ask: lo exists in every namespace
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
    del: async (req) => (await loadDel())(req),
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
