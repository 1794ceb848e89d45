// Delegation to an IPAM plugin found in CNI_PATH (the CNI specification's delegation protocol): same environment with CNI_COMMAND
// overridden, same stdin, its stderr forwarded, its result or error parsed. When the plugin found
// is our own build of that plugin, it runs in-process instead of paying a second process start;
// behaviour is identical because it is the same code on the same request.

import { run } from '../platform/exec.ts';
import { closeSync, openSync, readSync, realpathSync, statSync } from '../platform/fs.ts';
import { join } from '../platform/path.ts';
import type { Plugin, Request } from './dispatch.ts';
import type { Command } from './env.ts';
import { CniError, ErrorCode } from './errors.ts';
import type { Result } from './types.ts';

/** Marker written into the first lines of every bundle we build (see scripts/build.mjs). */
export const BUNDLE_MARKER = 'cni-ts plugin: ';

/** Plugins linked into this executable, loaded on first use (module set-up costs start-up time). */
const inProcess = new Map<string, () => Promise<Plugin>>();

/** Make a plugin available for in-process delegation (the executable that links it in calls this). */
export function registerInProcessPlugin(name: string, load: () => Promise<Plugin>): void {
  inProcess.set(name, load);
}

export function findInPath(type: string, paths: string[]): string {
  if (type === '' || type.includes('/') || type === '.' || type === '..') {
    throw new CniError(ErrorCode.InvalidConfig, `invalid plugin type "${type}"`);
  }
  if (paths.length === 0)
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables [CNI_PATH] missing (needed to find "${type}")`);
  for (const dir of paths) {
    const candidate = join(dir, type);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* not in this directory */
    }
  }
  throw new CniError(ErrorCode.DelegateFailed, `failed to find plugin "${type}" in path [${paths.join(' ')}]`);
}

/** Is the executable at `path` our own build of `type`? */
function isOurBuild(path: string, type: string): boolean {
  if (process.env.CNI_TS_NO_INPROCESS === '1') return false;
  try {
    const real = realpathSync(path);
    if (real === realpathSync(process.execPath) || real === realpathSync(process.argv[1] ?? '')) {
      // The standalone multi-call binary (or the same bundle): in-process only if it serves `type`.
      return inProcess.has(type);
    }
    const fd = openSync(real, 'r');
    try {
      const head = new Uint8Array(160);
      const n = readSync(fd, head, 0, head.length, 0);
      return String.fromCharCode(...head.subarray(0, n)).includes(`${BUNDLE_MARKER}${type}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/**
 * Run `command` of the IPAM plugin `type` for this request. ADD returns its result (internal
 * model); other commands return undefined. A delegate failure is rethrown with its own code.
 */
export async function delegate(command: Exclude<Command, 'VERSION'>, type: string, req: Request): Promise<Result | undefined> {
  const path = findInPath(type, req.env.path);
  const load = inProcess.get(type);
  if (load && isOurBuild(path, type)) {
    const local = await load();
    const sub: Request = { ...req, command, processEnv: { ...req.processEnv, CNI_COMMAND: command } };
    switch (command) {
      case 'ADD':
        return local.add(sub);
      case 'DEL':
        return void (await local.del(sub));
      case 'CHECK':
        return void (await local.check(sub));
      case 'GC':
        return void (await local.gc(sub));
      case 'STATUS':
        return void (await local.status(sub));
    }
  }
  const r = await run(path, [], { input: req.stdin, env: { ...req.processEnv, CNI_COMMAND: command }, forwardStderr: true });
  if (r.code !== 0) {
    let parsed: { code?: unknown; msg?: unknown; details?: unknown } | undefined;
    try {
      parsed = JSON.parse(r.stdout);
    } catch {
      /* not JSON */
    }
    if (parsed && typeof parsed.code === 'number' && typeof parsed.msg === 'string') {
      throw new CniError(parsed.code, parsed.msg, typeof parsed.details === 'string' ? parsed.details : undefined);
    }
    throw new CniError(ErrorCode.DelegateFailed, `${type} ${command} failed (exit ${r.code})`, (r.stdout || r.stderr).trim().slice(0, 500));
  }
  if (command !== 'ADD') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new CniError(ErrorCode.DelegateFailed, `${type} ADD printed an unparseable result`, r.stdout.slice(0, 300));
  }
  return (await import('./result-parse.ts')).parseResult(json, req.version);
}

/**
 * DEL's IPAM step (bridge, ptp): the address is released only once `interfaceGone` has settled,
 * whatever its outcome, so a new pod given the address never meets the old interface or its routes.
 */
export async function releaseAfter(interfaceGone: Promise<unknown>, ipamType: string | undefined, req: Request): Promise<void> {
  if (!ipamType) return;
  await interfaceGone.catch(() => undefined);
  await delegate('DEL', ipamType, req);
}
