// A small runtime that drives a network configuration list the way libcni (containerd, CRI-O,
// cnitool) does: each plugin gets its own config (the list's name and cniVersion, runtimeConfig
// for the capabilities it declares, prevResult from the previous plugin on ADD and the cached
// final result on CHECK/DEL), ADD runs in order, CHECK in order, DEL in reverse order.
// Plugins are run through kernel.ts runPlugin, so each one executes inside the node namespace.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Netns, type PluginRun, runPlugin } from './kernel.ts';

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, any> & { type: string }>;
  [key: string]: unknown;
}

export interface Attachment {
  containerID?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  /** Values for capabilities (portMappings, ipRanges, mac, …), injected only into plugins that declare them. */
  capabilityArgs?: Record<string, unknown>;
}

export interface Runtime {
  node: Netns;
  /** CNI_PATH, searched in order (ours first, then e.g. the reference dir for portmap). */
  path: string[];
}

export function loadConfList(file: string): ConfList {
  const list = JSON.parse(readFileSync(file, 'utf8')) as ConfList;
  if (!list.name || !list.cniVersion || !Array.isArray(list.plugins)) throw new Error(`${file}: not a conflist`);
  return list;
}

/** Versions this runtime speaks (libcni ≥ 1.2 speaks up to 1.1.0). */
export const RUNTIME_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/**
 * libcni ≥ 1.2's version selection: the highest entry of `cniVersions` the runtime speaks, else
 * `cniVersion`. Returns the list with that cniVersion (what every plugin then receives).
 */
export function selectVersion(list: ConfList, runtimeVersions = RUNTIME_VERSIONS): ConfList {
  const offered = Array.isArray(list.cniVersions) ? (list.cniVersions as string[]).filter((v) => runtimeVersions.includes(v)) : [];
  const best = offered.reduce<string | undefined>((hi, v) => (hi === undefined || !versionAtLeast(hi, v) ? v : hi), undefined);
  return best ? { ...list, cniVersion: best } : list;
}

function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/** libcni's buildOneConfig + injectRuntimeConfig. */
export function pluginConfig(list: ConfList, index: number, att: Attachment, prevResult?: unknown): Record<string, unknown> {
  const plugin = list.plugins[index]!;
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
  const rc: Record<string, unknown> = {};
  for (const [cap, enabled] of Object.entries(caps)) {
    if (enabled && att.capabilityArgs?.[cap] !== undefined) rc[cap] = att.capabilityArgs[cap];
  }
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return conf;
}

export class PluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly run: PluginRun,
  ) {
    super(`${plugin} ${command} exited ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
}

async function invoke(rt: Runtime, list: ConfList, index: number, command: string, att: Attachment, prev?: unknown): Promise<PluginRun> {
  const plugin = list.plugins[index]!;
  const dir = rt.path.find((d) => existsSync(join(d, plugin.type)));
  if (!dir) throw new Error(`plugin ${plugin.type} not found in ${rt.path.join(':')}`);
  const r = await runPlugin({
    plugin: plugin.type,
    command,
    config: pluginConfig(list, index, att, prev),
    node: rt.node,
    containerID: att.containerID,
    netns: att.netns,
    ifname: att.ifname,
    args: att.args,
    dir,
    path: rt.path.join(':'),
  });
  if (r.code !== 0) throw new PluginError(plugin.type, command, r);
  return r;
}

/** ADD every plugin in order; returns the final result (what libcni caches). */
export async function addNetworkList(rt: Runtime, list: ConfList, att: Attachment): Promise<any> {
  let prev: unknown;
  for (let i = 0; i < list.plugins.length; i++) {
    const r = await invoke(rt, list, i, 'ADD', att, prev);
    prev = r.json;
  }
  return prev;
}

/** CHECK every plugin in order with the cached result (libcni refuses CHECK below 0.4.0). */
export async function checkNetworkList(
  rt: Runtime,
  list: ConfList,
  att: Attachment,
  cached: unknown,
  skipTypes: string[] = [],
): Promise<void> {
  if (!versionAtLeast(list.cniVersion, '0.4.0'))
    throw new Error(`configuration version "${list.cniVersion}" does not support the CHECK command`);
  for (let i = 0; i < list.plugins.length; i++) {
    if (!skipTypes.includes(list.plugins[i]!.type)) await invoke(rt, list, i, 'CHECK', att, cached);
  }
}

/** GC every plugin (1.1.0): attachments not in `valid` may be cleaned up. No container variables. */
export async function gcNetworkList(rt: Runtime, list: ConfList, valid: Array<{ containerID: string; ifname: string }>): Promise<void> {
  if (!versionAtLeast(list.cniVersion, '1.1.0'))
    throw new Error(`configuration version "${list.cniVersion}" does not support the GC command`);
  const gcList = { ...list, plugins: list.plugins.map((p) => ({ ...p, 'cni.dev/valid-attachments': valid })) };
  for (let i = 0; i < list.plugins.length; i++) await invoke(rt, gcList, i, 'GC', {});
}

/** STATUS of every plugin (1.1.0); throws the first failure (e.g. code 50). */
export async function statusNetworkList(rt: Runtime, list: ConfList): Promise<void> {
  if (!versionAtLeast(list.cniVersion, '1.1.0'))
    throw new Error(`configuration version "${list.cniVersion}" does not support the STATUS command`);
  for (let i = 0; i < list.plugins.length; i++) await invoke(rt, list, i, 'STATUS', {});
}

/** DEL every plugin in reverse order; prevResult only from 0.4.0 on, as libcni does. */
export async function delNetworkList(rt: Runtime, list: ConfList, att: Attachment, cached?: unknown): Promise<void> {
  const prev = versionAtLeast(list.cniVersion, '0.4.0') ? cached : undefined;
  for (let i = list.plugins.length - 1; i >= 0; i--) await invoke(rt, list, i, 'DEL', att, prev);
}
