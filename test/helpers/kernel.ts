// Integration-test fixtures: throwaway "node" and "pod" network namespaces, a runner that
// invokes a built plugin the way a container runtime does (CNI_* env + config on stdin) from
// inside the node namespace, and cleanup of everything a test made, also when it fails.
//
// Every plugin run happens under `ip netns exec <node>`, so host-side links, routes, sysctls and
// firewall rules land in the node namespace, never in the machine's own.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ARCH, type Arch } from '../../lib/platform/arch.ts';
import { runnerFor } from './targets.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
/**
 * Which build the integration tests run (CNI_TS_BUILD): `bundle` (dist/<plugin>, needs Node),
 * `standalone` (dist/bin/, this machine's architecture) or `standalone-arm64` / `standalone-amd64`
 * (dist/bin-<arch>/ when that is not this machine's: run under qemu-user, see emulatorDir).
 */
const requested = process.env.CNI_TS_BUILD ?? 'bundle';
export const BUILD: 'bundle' | 'standalone' = requested.startsWith('standalone') ? 'standalone' : 'bundle';
/** The architecture of the executables under test. */
export const BUILD_ARCH: Arch = requested === 'standalone-arm64' ? 'arm64' : requested === 'standalone-amd64' ? 'amd64' : ARCH;
/** The executables run under qemu-user (emulatorDir; what emulation cannot show: README "Architectures"). */
export const EMULATED = BUILD_ARCH !== ARCH;
/** Where the build put the executables. */
export const BUILD_DIR = BUILD === 'bundle' ? join(ROOT, 'dist') : join(ROOT, 'dist', BUILD_ARCH === ARCH ? 'bin' : `bin-${BUILD_ARCH}`);

/**
 * For executables of a foreign architecture in `exeDir` (the multi-call `cni-ts` and its links): a
 * directory with one small script per name that runs it under qemu-user with that name as argv[0]
 * (the multi-call executable picks the plugin by it), so a runtime (the tests, a delegating plugin)
 * can exec the plugins by name as it would on such a node. Made in a temp dir, removed when this
 * process exits. Without qemu or an executable, the directory stays empty and the tests skip.
 */
export function emulatorDir(exeDir: string, arch: Arch): string {
  const dir = mkdtempSync(join(tmpdir(), `cnits-${arch}-bin-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const runner = runnerFor(arch);
  const exe = join(exeDir, 'cni-ts');
  if (!runner || !existsSync(exe)) return dir;
  for (const name of readdirSync(exeDir)) {
    if (name.startsWith('.') || !(name === 'cni-ts' || lstatSync(join(exeDir, name)).isSymbolicLink())) continue;
    writeFileSync(join(dir, name), `#!/bin/sh\nexec ${[...runner, '-0'].join(' ')} "$0" '${exe}' "$@"\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

export const PLUGIN_DIR = process.env.CNI_TS_PLUGIN_DIR ?? (EMULATED ? emulatorDir(BUILD_DIR, BUILD_ARCH) : BUILD_DIR);

/**
 * The spawn arguments that run the multi-call executable with `args` and, when given, `argv0` as
 * its argv[0] (how it is invoked matters to it): directly, or through qemu-user's -0 when emulated
 * (a wrapper script cannot pass an argv[0] on).
 */
export function multicall(args: string[], argv0?: string): { file: string; args: string[]; argv0?: string } {
  const exe = join(BUILD_DIR, 'cni-ts');
  if (!EMULATED) return { file: exe, args, argv0 };
  const [qemu = 'qemu-user-missing', ...rest] = runnerFor(BUILD_ARCH) ?? [];
  return { file: qemu, args: [...rest, '-0', argv0 ?? exe, exe, ...args] };
}
export const REFERENCE_DIR = '/usr/lib/cni';

export const isRoot = process.getuid?.() === 0;
export const haveBuild = existsSync(join(PLUGIN_DIR, 'bridge'));
export const haveReference = existsSync(join(REFERENCE_DIR, 'bridge'));

let counter = 0;
const runId = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
/** A name unique to this run, short enough for an interface name (≤ 15 bytes). */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}${runId}${counter.toString(36)}`.slice(-15).replace(/^[^a-z]/, 'x');
}

export function sh(file: string, args: string[], input?: string): string {
  return execFileSync(file, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Run a command; return status and output instead of throwing. */
export function trySh(file: string, args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    return { code: 0, stdout: sh(file, args), stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

export class Netns {
  readonly path: string;
  constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }
  /** Run a command inside this namespace. */
  exec(file: string, args: string[], input?: string): string {
    return sh('ip', ['netns', 'exec', this.name, file, ...args], input);
  }
  tryExec(file: string, args: string[]): { code: number; stdout: string; stderr: string } {
    return trySh('ip', ['netns', 'exec', this.name, file, ...args]);
  }
  ip(...args: string[]): string {
    return sh('ip', ['-n', this.name, ...args]);
  }
  /** `ip -json …` parsed. */
  ipJson<T = any>(...args: string[]): T {
    const out = sh('ip', ['-n', this.name, '-json', ...args]);
    return (out.trim() ? JSON.parse(out) : []) as T;
  }
  links(): any[] {
    return this.ipJson('-details', 'link', 'show');
  }
  link(name: string): any | undefined {
    return this.links().find((l) => l.ifname === name);
  }
  addrs(dev: string): string[] {
    const [info] = this.ipJson('addr', 'show', 'dev', dev);
    return (info?.addr_info ?? []).filter((a: any) => a.scope !== 'link').map((a: any) => `${a.local}/${a.prefixlen}`);
  }
  routes(family: '-4' | '-6' = '-4', ...extra: string[]): any[] {
    return this.ipJson(family, 'route', 'show', ...extra);
  }
  sysctl(key: string): string {
    return this.exec('cat', [`/proc/sys/${key.replace(/\./g, '/')}`]).trim();
  }
  ping(address: string, count = 1): boolean {
    const args = address.includes(':') ? ['-6'] : [];
    return this.tryExec('ping', [...args, '-c', String(count), '-W', '2', address]).code === 0;
  }
}

/**
 * Everything one test creates. Call `cleanup()` in afterEach (or use `withWorld`): it deletes the
 * namespaces (and with them every veth, bridge, route and firewall rule inside) and temp dirs.
 */
export class World {
  private namespaces: Netns[] = [];
  private dirs: string[] = [];

  netns(prefix = 'cnits'): Netns {
    const ns = new Netns(uniqueName(prefix));
    sh('ip', ['netns', 'add', ns.name]);
    this.namespaces.push(ns);
    sh('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    return ns;
  }
  /** A node namespace: where the plugin runs (its "host"). */
  node(): Netns {
    return this.netns('cnitsn');
  }
  /** A pod namespace. */
  pod(): Netns {
    return this.netns('cnitsp');
  }
  /** Delete one namespace now (e.g. to test DEL after the pod is gone). */
  removeNetns(ns: Netns): void {
    sh('ip', ['netns', 'del', ns.name]);
    this.namespaces = this.namespaces.filter((n) => n !== ns);
  }
  tmpdir(prefix = 'cnits-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }
  cleanup(): void {
    for (const ns of this.namespaces.splice(0)) trySh('ip', ['netns', 'del', ns.name]);
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (undefined when empty or not JSON). */
  json: any;
}

export interface RunOptions {
  plugin: string;
  command: string;
  config: object | string;
  /** The node namespace the plugin runs in; omit to run in the test's own namespace (protocol-only tests). */
  node?: Netns;
  containerID?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  path?: string;
  /** Directory holding the plugin executables (ours by default, or REFERENCE_DIR). */
  dir?: string;
  extraEnv?: Record<string, string | undefined>;
}

/** Invoke a plugin executable exactly as a runtime does. */
export function runPlugin(opts: RunOptions): Promise<PluginRun> {
  const dir = opts.dir ?? PLUGIN_DIR;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined) env[k] = v;
  };
  set('CNI_COMMAND', opts.command);
  set('CNI_CONTAINERID', opts.containerID);
  set('CNI_NETNS', opts.netns);
  set('CNI_IFNAME', opts.ifname);
  set('CNI_ARGS', opts.args);
  set('CNI_PATH', opts.path ?? dir);
  for (const [k, v] of Object.entries(opts.extraEnv ?? {})) set(k, v);
  const exe = join(dir, opts.plugin);
  const [file, args] = opts.node ? ['ip', ['netns', 'exec', opts.node.name, exe]] : [exe, []];
  const input = typeof opts.config === 'string' ? opts.config : JSON.stringify(opts.config);
  return new Promise((resolvePromise) => {
    const child = spawn(file, args as string[], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString();
      let json: any;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr: Buffer.concat(err).toString(), json });
    });
  });
}

/** Like runPlugin, but fails the test with the plugin's own output when it exits non-zero. */
export async function runOk(opts: RunOptions): Promise<any> {
  const r = await runPlugin(opts);
  if (r.code !== 0) {
    throw new Error(`${opts.plugin} ${opts.command} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r.json;
}

/** A container id unique to this run. */
/**
 * What a host-local network directory holds beyond its lock and last_reserved_ip markers: the
 * leases, and anything left in `.cni-ts/` (ours: the lease index stays, a temp or pending lease
 * file there is a leftover and is listed as ".cni-ts/<name>"). [] when the directory does not exist.
 */
export function leaseDirEntries(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const own = join(dir, '.cni-ts');
  const ours = existsSync(own)
    ? readdirSync(own)
        .filter((f) => f !== 'index')
        .map((f) => `.cni-ts/${f}`)
    : [];
  const main = readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && f !== '.cni-ts');
  return [...main, ...ours].sort();
}

export function containerId(): string {
  return `cnits-${uniqueName('c')}-${Math.random().toString(16).slice(2, 10)}`;
}
