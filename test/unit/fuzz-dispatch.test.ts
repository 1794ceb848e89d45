// In-process mutation fuzzing of the real plugin objects (bridge, ptp in both modes, host-local,
// portmap, loopback)
// through lib/cni/dispatch.ts: thousands of hostile configs and environments per run, no root and no
// kernel. Process spawning is replaced by a recorder that refuses (so nothing can reach the
// kernel even when a mutated input is valid), and every file-system write is confined to a
// sandbox directory while a case runs (so nothing can reach the disk outside it either).
//
// Every case must end in exactly one well-formed document: an error {cniVersion, code, msg,
// details?} with a documented code and non-zero status, or a success of the right shape; never a
// stack trace. Inputs the dispatcher must refuse (bad command, identifiers, namespace) must be
// refused before any process is spawned or any file written.
//
// Reproduce a failure with CNI_TS_FUZZ_SEED=<seed printed>; raise the count with CNI_TS_FUZZ_CASES.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const state = vi.hoisted(() => ({
  spawned: [] as string[][],
  /** While true, file-system writes outside `sandbox` are refused and recorded. */
  guard: false,
  sandbox: '/nonexistent-sandbox',
  writesOutside: [] as string[],
  writesInside: 0,
}));

vi.mock('../../lib/platform/exec.ts', () => ({
  run: async (file: string, args: readonly string[]) => {
    state.spawned.push([file, ...args]);
    return { code: 1, stdout: '', stderr: 'fuzz: spawning is disabled in this test' };
  },
}));

// Paths under /fake-netns/ stand for a foreign network namespace (no root needed to "open" it).
vi.mock('../../lib/kernel/netns.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../lib/kernel/netns.ts')>();
  return { ...real, inspectNetns: (p: string) => (p.startsWith('/fake-netns/') ? 'ok' : real.inspectNetns(p)) };
});

/**
 * node:fs (or lib/platform/fs.ts, which is node:fs under Node but is loaded without going through the
 * module system) with its write calls confined to the sandbox while `state.guard` is on.
 */
const sandboxed = vi.hoisted(() => (real: Record<string, any>) => {
  const { resolve: resolvePath } = require('node:path') as typeof import('node:path');
  const inside = (p: unknown) => {
    const s = String(p);
    return s === state.sandbox || s.startsWith(`${state.sandbox}/`) || resolvePath(s).startsWith(`${state.sandbox}/`);
  };
  const refuse = (p: unknown) => {
    state.writesOutside.push(String(p));
    const e = new Error(`EACCES: fuzz sandbox refuses a write to ${String(p)}`) as NodeJS.ErrnoException;
    e.code = 'EACCES';
    throw e;
  };
  const guarded =
    <F extends (...a: any[]) => any>(fn: F, ...pathArgs: number[]) =>
    (...a: Parameters<F>): ReturnType<F> => {
      if (state.guard) {
        for (const i of pathArgs) if (!inside(a[i])) refuse(a[i]);
        state.writesInside += 1;
      }
      return fn(...a);
    };
  const c = real.constants;
  const WRITE_FLAGS = c.O_WRONLY | c.O_RDWR | c.O_CREAT | c.O_TRUNC | (c.O_APPEND ?? 0);
  const openSync = (p: string, flags?: number | string, mode?: number) => {
    const writes = typeof flags === 'number' ? (flags & WRITE_FLAGS) !== 0 : flags !== undefined && flags !== 'r';
    if (state.guard && writes) {
      if (!inside(p)) refuse(p);
      state.writesInside += 1;
    }
    return real.openSync(p, flags, mode);
  };
  const mocked: Record<string, any> = { ...real, openSync };
  const writers: Array<[string, number[]]> = [
    ['mkdirSync', [0]],
    ['writeFileSync', [0]],
    ['appendFileSync', [0]],
    ['linkSync', [0, 1]],
    ['symlinkSync', [1]],
    ['renameSync', [0, 1]],
    ['unlinkSync', [0]],
    ['rmSync', [0]],
    ['rmdirSync', [0]],
    ['chmodSync', [0]],
  ];
  for (const [name, args] of writers) if (typeof real[name] === 'function') mocked[name] = guarded(real[name], ...args);
  return mocked;
});

vi.mock('node:fs', async (importOriginal) => {
  const mocked = sandboxed(await importOriginal<Record<string, any>>());
  return { ...mocked, default: mocked };
});
vi.mock('../../lib/platform/fs.ts', async (importOriginal) => {
  const real = await importOriginal<Record<string, any>>();
  const mocked = sandboxed({ ...real.fs, constants: real.constants });
  return { ...mocked, fs: mocked };
});

import { hostLocal } from '../../ipam/host-local.ts';
import { registerInProcessPlugin } from '../../lib/cni/delegate.ts';
import { dispatch, type Plugin } from '../../lib/cni/dispatch.ts';
import { ErrorCode } from '../../lib/cni/errors.ts';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.ts';
import { bridge } from '../../plugins/bridge/plugin.ts';
import { loopback } from '../../plugins/loopback/plugin.ts';
import { portmap } from '../../plugins/portmap/plugin.ts';
import { ptp } from '../../plugins/ptp/plugin.ts';
import {
  countFromEnv,
  errorDocumentProblems,
  type FuzzContext,
  fuzzCase,
  Rand,
  recordCounts,
  seedFromEnv,
  treeDiff,
  treeSnapshot,
} from '../helpers/fuzz.ts';

const CASES = countFromEnv('FUZZ_CASES', 3000);
const seed = seedFromEnv();

let sandbox: string;
let pluginDir: string;
let regularFile: string;

beforeAll(() => {
  sandbox = mkdtempSync(join(tmpdir(), 'cnits-fuzz-'));
  state.sandbox = resolve(sandbox);
  pluginDir = join(sandbox, 'bin');
  // A CNI_PATH whose host-local carries our bundle marker: bridge and ptp delegate in-process.
  mkdirSync(pluginDir);
  writeFileSync(join(pluginDir, 'host-local'), '#!/usr/bin/env node\n// cni-ts plugin: host-local\n', { mode: 0o755 });
  regularFile = join(sandbox, 'not-a-netns');
  writeFileSync(regularFile, 'x');
  registerInProcessPlugin('host-local', async () => hostLocal);
});
afterAll(() => rmSync(sandbox, { recursive: true, force: true }));

interface Target {
  plugin: Plugin;
  label: string;
  config: (dataDir: string) => Record<string, unknown>;
}

const ipam = (dataDir: string) => ({ type: 'host-local', dataDir, ranges: [[{ subnet: '10.77.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] });
const TARGETS: Target[] = [
  {
    plugin: bridge,
    label: 'bridge',
    config: (d) => ({
      cniVersion: '1.1.0',
      name: 'fuzznet',
      type: 'bridge',
      bridge: 'cnifuzz0',
      isGateway: true,
      ipMasq: true,
      ipam: ipam(d),
    }),
  },
  {
    plugin: ptp,
    label: 'ptp',
    config: (d) => ({ cniVersion: '1.0.0', name: 'fuzznet', type: 'ptp', ipMasq: true, mtu: 1400, ipam: ipam(d) }),
  },
  {
    plugin: ptp,
    label: 'ptp routed',
    config: (d) => ({ cniVersion: '1.1.0', name: 'fuzznet', type: 'ptp', proxyArp: true, hostVethPrefix: 'fz', ipam: ipam(d) }),
  },
  { plugin: hostLocal, label: 'host-local', config: (d) => ({ cniVersion: '0.4.0', name: 'fuzznet', type: 'host-local', ipam: ipam(d) }) },
  {
    plugin: portmap,
    label: 'portmap',
    config: () => ({
      cniVersion: '1.0.0',
      name: 'fuzznet',
      type: 'portmap',
      snat: true,
      markMasqBit: 13,
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '192.0.2.1' }] },
      prevResult: {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'eth0', sandbox: '/fake-netns/pod' }],
        ips: [{ address: '10.77.0.5/24', interface: 0 }],
      },
    }),
  },
  { plugin: loopback, label: 'loopback', config: () => ({ cniVersion: '1.0.0', name: 'fuzznet', type: 'loopback' }) },
];

/** What the dispatcher alone must refuse, from the environment: the expected code, else undefined. */
function dispatcherRefusal(env: Record<string, string | undefined>): number | undefined {
  const cmd = env.CNI_COMMAND;
  if (!['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'].includes(cmd ?? '')) return ErrorCode.InvalidEnvironment;
  if (cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK') {
    const required = cmd === 'DEL' ? ['CNI_CONTAINERID', 'CNI_IFNAME'] : ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'];
    if (required.some((k) => !env[k])) return ErrorCode.InvalidEnvironment;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(env.CNI_CONTAINERID!)) return ErrorCode.InvalidEnvironment;
    const ifn = env.CNI_IFNAME!;
    if (Buffer.byteLength(ifn) > 15 || ifn === '.' || ifn === '..' || /[\s/:"'\\#\p{Cc}]/u.test(ifn)) return ErrorCode.InvalidEnvironment;
  }
  if (cmd === 'GC' && !env.CNI_PATH) return ErrorCode.InvalidEnvironment;
  return undefined;
}

/** The dataDir the (possibly mutated) stdin configures, as prefixes of paths written under it. */
function configuredDataDirs(stdin: Buffer): string[] {
  try {
    const dir = JSON.parse(stdin.toString()).ipam?.dataDir;
    return typeof dir === 'string' && dir !== '' ? [dir, resolve(dir)] : [];
  } catch {
    return [];
  }
}

/** Paths that exist but are no foreign network namespace: refused before the plugin runs. */
const isForbiddenNetns = (p: string | undefined, own: string) =>
  p !== undefined && [own, '/proc/self/ns/net', '/proc/self/ns/mnt', '/dev/null', '/', regularFile].includes(p);

describe('fuzzing dispatch() with the real plugins (in-process, no kernel)', () => {
  it(`${CASES} mutated inputs: one well-formed document each, refusals before any side effect`, async () => {
    const r = new Rand(seed);
    const codes = new Map<number, number>();
    const internal: string[] = [];
    let successes = 0;
    let guardedWrites = 0;
    for (let i = 0; i < CASES; i++) {
      const target = TARGETS[i % TARGETS.length]!;
      const dataDir = join(state.sandbox, 'data');
      const ctx: FuzzContext = {
        env: {
          CNI_COMMAND: r.pick(['ADD', 'DEL', 'CHECK', 'ADD', 'DEL', 'GC', 'STATUS']),
          CNI_CONTAINERID: 'c0ffee',
          CNI_NETNS: '/fake-netns/pod',
          CNI_IFNAME: 'eth0',
          CNI_ARGS: '',
          CNI_PATH: pluginDir,
        },
        netns: { ok: '/fake-netns/pod', own: '/proc/self/ns/net', regularFile, missing: join(state.sandbox, 'missing-netns') },
        sandbox: state.sandbox,
        nulInEnv: true,
        huge: false,
      };
      const c = fuzzCase(r, target.config(dataDir), ctx);
      const env = Object.fromEntries(Object.entries(c.env).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
      const where = `seed ${seed} case ${i} (${target.label}): ${c.notes.map((n) => n.slice(0, 160)).join(' | ')}`;

      const before = treeSnapshot(state.sandbox);
      state.spawned.length = 0;
      state.writesOutside.length = 0;
      state.writesInside = 0;
      state.guard = true;
      let out;
      try {
        out = await dispatch(target.plugin, env, () => c.stdin);
      } finally {
        state.guard = false;
      }
      guardedWrites += state.writesInside + state.writesOutside.length;

      // Nothing outside the sandbox, ever, but in the configured data directory (when a mutation
      // moved it out, the guard refused the write) or the default one; relative paths only under a
      // relative dataDir (host-local accepts one, as the reference does).
      const allowed = ['/var/lib/cni/networks/', '/proc/sys/', ...configuredDataDirs(c.stdin)];
      const stray = state.writesOutside.filter((p) => p.startsWith('/') && !allowed.some((a) => p.startsWith(a)));
      expect(stray, where).toEqual([]);

      if (out.exitCode === 0) {
        successes += 1;
        if (env.CNI_COMMAND === 'VERSION') {
          expect(JSON.parse(out.stdout).supportedVersions, where).toEqual(SUPPORTED_VERSIONS);
        } else {
          // With spawning refused, no ADD can complete (host-local needs flock) but portmap's
          // pass-through of a prevResult when it has nothing to map; the rest print nothing.
          if (env.CNI_COMMAND === 'ADD') {
            expect(target.label, where).toBe('portmap');
            expect(state.spawned, where).toEqual([]);
            expect(typeof JSON.parse(out.stdout), where).toBe('object');
          } else expect(out.stdout, where).toBe('');
        }
        continue;
      }
      expect(errorDocumentProblems(out.stdout, out.exitCode), where).toEqual([]);
      const code = JSON.parse(out.stdout).code as number;
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (code === ErrorCode.Internal) internal.push(`${where} → ${out.stdout.slice(0, 300)}`);

      const refusal = dispatcherRefusal(c.env);
      // A plugin that enters CNI_NETNS must refuse a path that is no foreign namespace before
      // anything else; DEL treats a non-namespace as "gone" (the runtime's crashed unmount) but
      // still refuses the plugin's own namespace. IPAM plugins never enter it (entersNetns: false).
      const entersNetns = (target.plugin as { entersNetns?: boolean }).entersNetns !== false;
      const forbiddenNetns =
        entersNetns &&
        (['ADD', 'CHECK'].includes(env.CNI_COMMAND ?? '')
          ? isForbiddenNetns(env.CNI_NETNS, '/proc/self/ns/net')
          : env.CNI_COMMAND === 'DEL' && env.CNI_NETNS === '/proc/self/ns/net');
      if (refusal !== undefined || forbiddenNetns) {
        if (refusal !== undefined) expect(code, where).toBe(refusal);
        expect(state.spawned, where).toEqual([]);
        expect(state.writesInside + state.writesOutside.length, where).toBe(0);
        expect(treeDiff(before, treeSnapshot(state.sandbox)), where).toBe('');
      }
    }
    recordCounts('fuzz-dispatch', { inputsFuzzed: CASES, successes, internalErrors: internal.length });
    // An internal error (999) means an input nobody anticipated: each one is a bug to name.
    expect(internal, `seed ${seed}`).toEqual([]);
    // The sandbox saw the plugins' writes (were they to bypass it, they would reach the real disk).
    expect(guardedWrites).toBeGreaterThan(0);
    // The fuzzer must reach beyond the dispatcher: plugin-level config errors are among the codes.
    expect(codes.get(ErrorCode.InvalidConfig) ?? 0).toBeGreaterThan(0);
    expect(codes.get(ErrorCode.DecodingFailure) ?? 0).toBeGreaterThan(0);
  }, 300_000);

  it('tens of MB: a valid config with a 20 MB unknown key decodes; 70 MB is refused with code 5', async () => {
    const base = TARGETS[3]!.config(join(state.sandbox, 'never-created'));
    const env = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c0ffee', CNI_IFNAME: 'eth0', CNI_NETNS: '', CNI_PATH: '/x' };
    const padded = Buffer.from(JSON.stringify({ ...base, padding: 'x'.repeat(20 * 1024 * 1024) }));
    const ok = await dispatch(hostLocal, env, () => padded);
    expect(ok).toEqual({ stdout: '', exitCode: 0 }); // DEL of nothing
    const huge = await dispatch(hostLocal, env, () => Buffer.alloc(70 * 1024 * 1024, 0x20));
    expect(errorDocumentProblems(huge.stdout, huge.exitCode)).toEqual([]);
    expect(JSON.parse(huge.stdout).code).toBe(ErrorCode.IoFailure);
  });

  it('CNI_NETNS naming another namespace type (/proc/self/ns/mnt) is refused with code 4 before any side effect', async () => {
    for (const t of TARGETS.filter((x) => (x.plugin as { entersNetns?: boolean }).entersNetns !== false)) {
      for (const command of ['ADD', 'CHECK']) {
        const env = {
          CNI_COMMAND: command,
          CNI_CONTAINERID: 'c0ffee',
          CNI_IFNAME: 'eth0',
          CNI_NETNS: '/proc/self/ns/mnt',
          CNI_PATH: pluginDir,
        };
        state.spawned.length = 0;
        const out = await dispatch(t.plugin, env, () => Buffer.from(JSON.stringify(t.config(join(state.sandbox, 'mnt-data')))));
        expect(JSON.parse(out.stdout).code, `${t.label} ${command}`).toBe(ErrorCode.InvalidEnvironment);
        expect(state.spawned).toEqual([]);
      }
    }
  });

  it('deep nesting (100 000 levels) anywhere is a clean error or ignored, never a crash', async () => {
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c0ffee', CNI_IFNAME: 'eth0', CNI_NETNS: '/proc/self/ns/net', CNI_PATH: '/x' };
    const deepArray = '['.repeat(100_000) + ']'.repeat(100_000);
    for (const t of TARGETS) {
      for (const stdin of [
        deepArray,
        `{"cniVersion":"1.1.0","name":"n","deep":${deepArray}}`,
        `{"cniVersion":"1.1.0","name":${deepArray}}`,
      ]) {
        const out = await dispatch(t.plugin, env, () => Buffer.from(stdin));
        expect(errorDocumentProblems(out.stdout, out.exitCode)).toEqual([]);
        expect(JSON.parse(out.stdout).code).not.toBe(ErrorCode.Internal);
      }
    }
  });
});
