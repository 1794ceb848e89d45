// The protocol as a runtime sees it: the built executables dist/bridge, dist/ptp and dist/host-local
// run with CNI_* variables and a config on stdin, inside a throwaway node namespace.
// - VERSION of each; the error document's shape, codes and exit status for every class of bad
//   input; never a stack trace on stdout; nothing left behind in the node namespace;
// - the plugin's own namespace refused before anything happens; DEL with a missing netns succeeds;
// - differential: the same env + stdin given to Debian's reference plugins (/usr/lib/cni, v1.1.1,
//   CNI ≤ 1.0.0) gives the same exit class and, where the reference follows the spec, the same code.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.ts';
import {
  BUILD,
  containerId,
  haveBuild,
  haveReference,
  isRoot,
  multicall,
  type Netns,
  type PluginRun,
  REFERENCE_DIR,
  type RunOptions,
  runPlugin,
  sh,
  uniqueName,
  World,
} from '../helpers/kernel.ts';

const PLUGINS = ['bridge', 'ptp', 'host-local', 'portmap', 'loopback'] as const;
type PluginName = (typeof PLUGINS)[number];
/** Plugins that never enter CNI_NETNS and, like the reference ones, accept any value there. */
const NODE_ONLY: readonly PluginName[] = ['host-local', 'portmap'];
/** Plugins with an `ipam` section. */
const WITH_IPAM: readonly PluginName[] = ['bridge', 'ptp', 'host-local'];
/** Plugins that read CNI_ARGS (portmap and loopback accept anything there, as the reference ones do). */
const READ_ARGS: readonly PluginName[] = ['bridge', 'ptp', 'host-local'];

/** What one test owns: its node namespace (where plugins run) and a data dir for IPAM state. */
interface Ctx {
  world: World;
  node: Netns;
  dataDir: string;
}

/**
 * A fresh context, removed when the test finishes (also when it fails). Tests run concurrently,
 * so the cleanup hangs on the test's own context, not on a global hook.
 */
function fresh(test: TestContext): Ctx {
  const world = new World();
  test.onTestFinished(() => world.cleanup());
  return { world, node: world.node(), dataDir: world.tmpdir() };
}

/** A config the plugin accepts, with state kept in the test's temp dir. */
function validConfig(t: Ctx, plugin: PluginName, version = '1.0.0'): Record<string, unknown> {
  const ipam = { type: 'host-local', subnet: '10.250.7.0/24', dataDir: t.dataDir };
  const name = uniqueName('proto');
  switch (plugin) {
    case 'bridge':
      return { cniVersion: version, name, type: 'bridge', bridge: uniqueName('br'), ipam };
    case 'ptp':
      return { cniVersion: version, name, type: 'ptp', ipam };
    case 'host-local':
      return { cniVersion: version, name, type: 'some-plugin', ipam };
    case 'portmap':
      return {
        cniVersion: version,
        name,
        type: 'portmap',
        runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] },
        prevResult: {
          cniVersion: version,
          interfaces: [{ name: 'eth0', sandbox: '/x' }],
          ips: [{ address: '10.250.7.5/24', interface: 0 }],
        },
      };
    case 'loopback':
      return { cniVersion: version, name, type: 'loopback' };
  }
}

/** The code a plugin gives `badConfig`: loopback has no keys of its own, only a prevResult to decode. */
const badConfigCode = (plugin: PluginName): number => (plugin === 'loopback' ? 6 : 7);

/** A config the plugin itself must refuse (the protocol core accepts it), with `badConfigCode`. */
function badConfig(t: Ctx, plugin: PluginName, version = '1.0.0'): Record<string, unknown> {
  const c = validConfig(t, plugin, version);
  if (plugin === 'portmap') return { ...c, runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80, protocol: 'tcp' }] } };
  if (plugin === 'loopback') return { ...c, prevResult: { cniVersion: version, ips: [{ address: 'bogus' }] } };
  return { ...c, ipam: { type: 'host-local', subnet: 24, dataDir: t.dataDir } };
}

/** The environment of a well-formed request; each case breaks one thing. */
function request(t: Ctx, plugin: PluginName, command: string, over: Partial<RunOptions> = {}): RunOptions {
  return {
    plugin,
    command,
    node: t.node,
    config: validConfig(t, plugin),
    containerID: containerId(),
    netns: '/run/netns/cni-ts-protocol-missing',
    ifname: 'eth0',
    ...over,
  };
}

/** Exactly one error document of the spec's shape on stdout, non-zero exit, no stack trace. */
function expectErrorDocument(r: PluginRun, code?: number): void {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBe(0);
  expect(r.stdout).not.toMatch(/\n\s+at |\.js:\d+|\.ts:\d+|node:internal/);
  const doc = JSON.parse(r.stdout); // one document, nothing else
  expect(Object.keys(doc).every((k) => ['cniVersion', 'code', 'msg', 'details'].includes(k))).toBe(true);
  expect(typeof doc.cniVersion).toBe('string');
  expect(Number.isInteger(doc.code)).toBe(true);
  expect(typeof doc.msg).toBe('string');
  expect(doc.msg).not.toBe('');
  if ('details' in doc) expect(typeof doc.details).toBe('string');
  if (code !== undefined) expect(doc.code, doc.msg).toBe(code);
  // diagnostics on stderr stay short
  expect(r.stderr.split('\n').length).toBeLessThan(10);
}

/** The node namespace holds nothing but lo, and no lease was written. */
function expectNothingChanged(t: Ctx): void {
  expect(t.node.links().map((l) => l.ifname)).toEqual(['lo']);
  const leases = readdirSync(t.dataDir, { recursive: true })
    .map(String)
    .filter((f) => !/(^|\/)(lock|last_reserved_ip\.\d+|\.cni-ts|\.cni-ts\/index)$/.test(f));
  expect(leases.filter((f) => f.includes('.') || f.includes(':'))).toEqual([]);
}

interface BadInput {
  what: string;
  /** Expected code from our plugins. */
  code: number;
  opts: (t: Ctx, plugin: PluginName) => Partial<RunOptions>;
  /** A CNI_NETNS problem: host-local and portmap never enter the netns and, like the reference ones, ignore it. */
  netns?: true;
  /** A problem in the `ipam` section (plugins without one skip it). */
  ipam?: true;
  /** A CNI_ARGS problem: portmap and loopback never read CNI_ARGS, as the reference ones do not. */
  cniArgs?: true;
}

const withConfig = (f: (c: Record<string, unknown>) => unknown) => (t: Ctx, p: PluginName) => ({
  config: f(validConfig(t, p)) as object | string,
});

/** Every class of bad input the protocol core rejects before a plugin does any work. */
const BAD_INPUTS: BadInput[] = [
  { what: 'no CNI_COMMAND', code: 4, opts: () => ({ command: undefined as unknown as string }) },
  { what: 'unknown CNI_COMMAND', code: 4, opts: () => ({ command: 'FROB' }) },
  { what: 'lower-case command', code: 4, opts: () => ({ command: 'add' }) },
  { what: 'ADD without CNI_CONTAINERID', code: 4, opts: () => ({ containerID: undefined }) },
  { what: 'ADD without CNI_NETNS', code: 4, opts: () => ({ netns: undefined }) },
  { what: 'ADD without CNI_IFNAME', code: 4, opts: () => ({ ifname: undefined }) },
  { what: 'invalid CNI_CONTAINERID', code: 4, opts: () => ({ containerID: '-bad/id' }) },
  { what: 'CNI_IFNAME too long', code: 4, opts: () => ({ ifname: 'a'.repeat(16) }) },
  { what: 'CNI_IFNAME with "/"', code: 4, opts: () => ({ ifname: 'eth/0' }) },
  { what: 'CNI_IFNAME "."', code: 4, opts: () => ({ ifname: '.' }) },
  { what: 'CNI_ARGS with an unknown key', code: 4, cniArgs: true, opts: () => ({ args: 'FOO=bar' }) },
  { what: 'CNI_ARGS malformed pair', code: 4, cniArgs: true, opts: () => ({ args: 'IgnoreUnknown=1;IP' }) },
  { what: 'empty stdin', code: 6, opts: () => ({ config: '' }) },
  { what: 'truncated JSON', code: 6, opts: () => ({ config: '{"cniVersion":"1.0.0","name":' }) },
  { what: 'JSON array', code: 6, opts: () => ({ config: '[]' }) },
  { what: 'JSON string', code: 6, opts: () => ({ config: '"net"' }) },
  { what: 'not UTF-8', code: 6, opts: () => ({ config: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1') }) },
  { what: 'missing name', code: 7, opts: withConfig((c) => ({ ...c, name: undefined })) },
  { what: 'name with a space', code: 7, opts: withConfig((c) => ({ ...c, name: 'my net' })) },
  { what: 'name not a string', code: 7, opts: withConfig((c) => ({ ...c, name: 42 })) },
  { what: 'cniVersion unsupported', code: 1, opts: withConfig((c) => ({ ...c, cniVersion: '9.9.9' })) },
  { what: 'cniVersion not a version', code: 6, opts: withConfig((c) => ({ ...c, cniVersion: 'one' })) },
  { what: 'CHECK on a 0.3.1 config', code: 1, opts: (t, p) => ({ command: 'CHECK', config: validConfig(t, p, '0.3.1') }) },
  { what: 'GC on a 1.0.0 config', code: 1, opts: (t, p) => ({ command: 'GC', config: validConfig(t, p, '1.0.0') }) },
  { what: 'GC without CNI_PATH', code: 4, opts: (t, p) => ({ command: 'GC', path: '', config: validConfig(t, p, '1.1.0') }) },
  { what: 'CHECK on a missing netns', code: 3, netns: true, opts: () => ({ command: 'CHECK' }) },
  { what: 'STATUS on a 0.4.0 config', code: 1, opts: (t, p) => ({ command: 'STATUS', config: validConfig(t, p, '0.4.0') }) },
  { what: 'ADD on a missing netns', code: 3, netns: true, opts: () => ({}) },
  { what: 'ADD on a path that is not a netns', code: 4, netns: true, opts: () => ({ netns: '/etc/hostname' }) },
  // plugin-side validation runs only once the namespace checks passed: give it a real pod namespace
  {
    what: 'wrong type for ipam.subnet',
    code: 7,
    ipam: true,
    opts: (t, p) => ({
      netns: t.world.pod().path,
      config: { ...validConfig(t, p), ipam: { type: 'host-local', subnet: 24, dataDir: t.dataDir } },
    }),
  },
  {
    what: 'ipam.subnet not a CIDR',
    code: 7,
    ipam: true,
    opts: (t, p) => ({
      netns: t.world.pod().path,
      config: { ...validConfig(t, p), ipam: { type: 'host-local', subnet: '10.0.0.0/33', dataDir: t.dataDir } },
    }),
  },
];

const describeRoot = describe.skipIf(!isRoot || !haveBuild);

describeRoot.each(PLUGINS)('%s executable', { concurrent: true }, (plugin) => {
  it('answers VERSION with the supported list, echoing each requested version', async (ctx) => {
    const t = fresh(ctx);
    const { node } = t;
    for (const v of SUPPORTED_VERSIONS) {
      const r = await runPlugin({ plugin, command: 'VERSION', node, config: { cniVersion: v } });
      expect(r.code).toBe(0);
      expect(r.json).toEqual({ cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] });
    }
    // libcni's probe: dummy env, 1.1.0 config; and a runtime that sends nothing usable
    const probe = await runPlugin({ plugin, command: 'VERSION', node, config: { cniVersion: '1.1.0' }, netns: 'dummy', ifname: 'dummy' });
    expect(probe.json.cniVersion).toBe('1.1.0');
    const empty = await runPlugin({ plugin, command: 'VERSION', node, config: '' });
    expect(empty.code).toBe(0);
    expect(empty.json.supportedVersions).toContain('1.1.0');
  });

  it.for(
    BAD_INPUTS.filter(
      (b) =>
        !(b.netns && NODE_ONLY.includes(plugin)) && !(b.ipam && !WITH_IPAM.includes(plugin)) && !(b.cniArgs && !READ_ARGS.includes(plugin)),
    ).map((b) => [b.what, b] as const),
  )('%s → error document, non-zero exit, nothing changed', async ([_what, bad], ctx) => {
    const t = fresh(ctx);
    const r = await runPlugin(request(t, plugin, 'ADD', bad.opts(t, plugin)));
    expectErrorDocument(r, bad.code);
    expectNothingChanged(t);
  });

  it.skipIf(NODE_ONLY.includes(plugin))('refuses its own network namespace before doing anything', async (ctx) => {
    const t = fresh(ctx);
    const { node } = t;
    for (const command of ['ADD', 'CHECK', 'DEL']) {
      const r = await runPlugin(request(t, plugin, command, { netns: node.path }));
      expectErrorDocument(r, 4);
      expect(r.stdout).toContain('own network namespace');
    }
    // also when named through /proc (the runtime may pass either form)
    const viaProc = await runPlugin(request(t, plugin, 'ADD', { netns: '/proc/self/ns/net' }));
    expectErrorDocument(viaProc, 4);
    expectNothingChanged(t);
  });

  it('error documents carry the config version once the config is read', async (ctx) => {
    const t = fresh(ctx);
    const r = await runPlugin(request(t, plugin, 'ADD', { config: badConfig(t, plugin, '0.3.1'), netns: t.world.pod().path }));
    expectErrorDocument(r, badConfigCode(plugin));
    expect(r.json.cniVersion).toBe('0.3.1');
  });

  it('DEL with a missing or empty CNI_NETNS succeeds with no output, also repeated', async (ctx) => {
    const t = fresh(ctx);
    const config = validConfig(t, plugin);
    const containerID = containerId();
    for (const netns of ['/run/netns/cni-ts-protocol-missing', '', '/run/netns/cni-ts-protocol-missing']) {
      const r = await runPlugin(request(t, plugin, 'DEL', { config, containerID, netns }));
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toBe('');
    }
    expectNothingChanged(t);
  });

  it('DEL with a stale netns file (unmounted, not yet removed) succeeds', async (ctx) => {
    const t = fresh(ctx);
    const { world } = t;
    const pod = world.pod();
    sh('umount', [pod.path]);
    const r = await runPlugin(request(t, plugin, 'DEL', { netns: pod.path }));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe('');
  });

  it('STATUS and GC on a fresh 1.1.0 config succeed silently', async (ctx) => {
    const t = fresh(ctx);
    const { node } = t;
    for (const command of ['STATUS', 'GC']) {
      const r = await runPlugin({ plugin, command, node, config: { ...validConfig(t, plugin, '1.1.0'), 'cni.dev/valid-attachments': [] } });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toBe('');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Differential: ours vs the reference binaries. The reference (v1.1.1) speaks CNI ≤ 1.0.0, so
// configs are 1.0.0 here. `same: 'code'` where the reference follows the spec; `same: 'class'`
// where both must fail but the reference's code is not the spec's (it answers 999 for most
// plugin-side validation) or the README documents a deliberate deviation.
interface DiffCase {
  what: string;
  command: string;
  same: 'code' | 'class';
  /** Plugins this case does not apply to, and why (in a comment at the case). */
  skip?: PluginName[];
  opts: (t: Ctx, plugin: PluginName) => Partial<RunOptions>;
}

const DIFF_CASES: DiffCase[] = [
  { what: 'unknown command', command: 'FROB', same: 'code', opts: () => ({}) },
  { what: 'ADD without CNI_CONTAINERID', command: 'ADD', same: 'code', opts: () => ({ containerID: undefined }) },
  { what: 'ADD without CNI_NETNS', command: 'ADD', same: 'code', opts: () => ({ netns: undefined }) },
  { what: 'ADD without CNI_IFNAME', command: 'ADD', same: 'code', opts: () => ({ ifname: undefined }) },
  { what: 'DEL without CNI_IFNAME', command: 'DEL', same: 'code', opts: () => ({ ifname: undefined }) },
  { what: 'CHECK without CNI_CONTAINERID', command: 'CHECK', same: 'code', opts: () => ({ containerID: undefined }) },
  { what: 'invalid container id', command: 'ADD', same: 'code', opts: () => ({ containerID: '-bad' }) },
  { what: 'interface name too long', command: 'ADD', same: 'code', opts: () => ({ ifname: 'a'.repeat(16) }) },
  { what: 'interface name "."', command: 'DEL', same: 'code', opts: () => ({ ifname: '.' }) },
  { what: 'interface name with ":"', command: 'ADD', same: 'code', opts: () => ({ ifname: 'a:b' }) },
  { what: 'interface name with a space', command: 'ADD', same: 'code', opts: () => ({ ifname: 'a b' }) },
  { what: 'empty stdin', command: 'ADD', same: 'code', opts: () => ({ config: '' }) },
  { what: 'truncated JSON', command: 'DEL', same: 'code', opts: () => ({ config: '{"name":' }) },
  { what: 'JSON array', command: 'ADD', same: 'code', opts: () => ({ config: '[1]' }) },
  { what: 'JSON number', command: 'ADD', same: 'code', opts: () => ({ config: '42' }) },
  { what: 'missing name', command: 'ADD', same: 'code', opts: withConfig((c) => ({ ...c, name: undefined })) },
  { what: 'empty name', command: 'DEL', same: 'code', opts: withConfig((c) => ({ ...c, name: '' })) },
  { what: 'name with a space', command: 'ADD', same: 'code', opts: withConfig((c) => ({ ...c, name: 'my net' })) },
  { what: 'name starting with "."', command: 'ADD', same: 'code', opts: withConfig((c) => ({ ...c, name: '.net' })) },
  { what: 'unsupported cniVersion', command: 'ADD', same: 'code', opts: withConfig((c) => ({ ...c, cniVersion: '9.9.9' })) },
  { what: 'CHECK on 0.3.1', command: 'CHECK', same: 'code', opts: (t, p) => ({ config: validConfig(t, p, '0.3.1') }) },
  { what: 'CHECK with no cniVersion (0.1.0)', command: 'CHECK', same: 'code', opts: withConfig((c) => ({ ...c, cniVersion: undefined })) },
  // both fail, codes differ by design or because the reference answers 999:
  { what: 'null config', command: 'ADD', same: 'class', opts: () => ({ config: 'null' }) },
  { what: 'CNI_ARGS unknown key', command: 'ADD', same: 'class', opts: () => ({ args: 'FOO=bar' }) },
  // portmap and loopback ignore CNI_ARGS altogether, as the reference ones do: a DEL with any succeeds.
  { what: 'CNI_ARGS malformed, DEL', command: 'DEL', same: 'class', skip: ['bridge', 'ptp', 'host-local'], opts: () => ({ args: 'a;;=' }) },
  { what: 'cniVersion not semver', command: 'ADD', same: 'class', opts: withConfig((c) => ({ ...c, cniVersion: '1.0' })) },
  {
    what: 'ipam.subnet wrong type',
    command: 'ADD',
    same: 'class',
    skip: ['portmap', 'loopback'], // no ipam section
    opts: (t, p) => ({
      netns: t.world.pod().path,
      config: { ...validConfig(t, p), ipam: { type: 'host-local', subnet: 24, dataDir: t.dataDir } },
    }),
  },
  {
    what: 'ipam.subnet not a CIDR',
    command: 'ADD',
    same: 'class',
    skip: ['portmap', 'loopback'], // no ipam section
    opts: (t, p) => ({
      netns: t.world.pod().path,
      config: { ...validConfig(t, p), ipam: { type: 'host-local', subnet: '10.0.0.0/33', dataDir: t.dataDir } },
    }),
  },
  // host-local and portmap never enter CNI_NETNS: both implementations work whatever path it names.
  { what: 'ADD on a missing netns', command: 'ADD', same: 'class', opts: () => ({}) },
  {
    what: 'plugin-side config error',
    command: 'ADD',
    same: 'class',
    opts: (t, p) => ({ netns: t.world.pod().path, config: badConfig(t, p) }),
  },
  // both succeed:
  { what: 'DEL on a missing netns', command: 'DEL', same: 'code', opts: () => ({}) },
  { what: 'DEL with an empty CNI_NETNS', command: 'DEL', same: 'code', opts: () => ({ netns: '' }) },
  {
    what: 'DEL of an attachment never added, repeated config',
    command: 'DEL',
    same: 'code',
    opts: (t, p) => ({ config: validConfig(t, p, '0.4.0') }),
  },
];

describe.skipIf(!isRoot || !haveBuild || !haveReference).each(PLUGINS)('%s vs the reference plugin', { concurrent: true }, (plugin) => {
  it('VERSION: we support every version the reference does', async (ctx) => {
    const t = fresh(ctx);
    const { node } = t;
    const ours = await runPlugin({ plugin, command: 'VERSION', node, config: { cniVersion: '1.0.0' } });
    const ref = await runPlugin({ plugin, command: 'VERSION', node, config: { cniVersion: '1.0.0' }, dir: REFERENCE_DIR });
    expect(ref.code).toBe(0);
    expect(ours.code).toBe(0);
    for (const v of ref.json.supportedVersions) expect(ours.json.supportedVersions).toContain(v);
    expect(ours.json.supportedVersions).toContain(ref.json.cniVersion);
  });

  it.for(DIFF_CASES.filter((c) => !c.skip?.includes(plugin)).map((c) => [c.what, c] as const))('%s', async ([_what, c], ctx) => {
    const t = fresh(ctx);
    const { world, dataDir } = t;
    const base = request(t, plugin, c.command, c.opts(t, plugin));
    // Each side gets its own node namespace and data dir, so neither steers the other.
    const refData = join(dataDir, 'ref');
    mkdirSync(refData, { recursive: true });
    const refConfig =
      typeof base.config === 'object' && base.config && 'ipam' in base.config
        ? { ...base.config, ipam: { ...(base.config as { ipam: object }).ipam, dataDir: refData } }
        : base.config;
    const [ours, ref] = await Promise.all([
      runPlugin(base),
      runPlugin({ ...base, node: world.node(), config: refConfig, dir: REFERENCE_DIR }),
    ]);
    const detail = `ours: ${ours.code} ${ours.stdout}\nreference: ${ref.code} ${ref.stdout} ${ref.stderr}`;
    expect(ours.code === 0, detail).toBe(ref.code === 0);
    if (ours.code !== 0) {
      expectErrorDocument(ours);
      if (c.same === 'code') expect(ours.json.code, detail).toBe(ref.json?.code);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Results are printed in exactly the requested version, in that version's shape.
const dualStackIpam = (dataDir: string) => ({
  type: 'host-local',
  dataDir,
  ranges: [[{ subnet: '10.250.9.0/24' }], [{ subnet: 'fd00:9::/64' }]],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00:9::1' }],
});

/** Go prints an empty `dns: {}`; we omit it (Go omits nothing else the same way). */
const withoutEmptyDns = (r: Record<string, unknown>) => {
  const { dns, ...rest } = r;
  return dns && Object.keys(dns as object).length ? r : rest;
};

describe.skipIf(!isRoot || !haveBuild).each(['bridge', 'ptp'] as const)('%s ADD result versions', { concurrent: true }, (plugin) => {
  it.for(SUPPORTED_VERSIONS.map((v) => [v] as const))('%s: printed in exactly that version and shape, then DEL', async ([v], ctx) => {
    const t = fresh(ctx);
    const { world, node, dataDir } = t;
    const pod = world.pod();
    const config = {
      cniVersion: v,
      name: uniqueName('ver'),
      type: plugin,
      ...(plugin === 'bridge' ? { bridge: uniqueName('br') } : {}),
      ipam: dualStackIpam(dataDir),
    };
    const containerID = containerId();
    const add = await runPlugin({ plugin, command: 'ADD', node, config, containerID, netns: pod.path, ifname: 'eth0' });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const r = add.json;
    expect(r.cniVersion).toBe(v);
    if (v === '0.1.0' || v === '0.2.0') {
      expect(Object.keys(r).sort()).toEqual(['cniVersion', 'ip4', 'ip6']);
      expect(r.ip4.ip).toBe('10.250.9.2/24');
      expect(r.ip6.ip).toBe('fd00:9::2/64');
      expect(r.ip6.routes).toEqual([{ dst: '::/0', gw: 'fd00:9::1' }]);
    } else {
      const container = r.interfaces.findIndex((i: { sandbox?: string }) => i.sandbox === pod.path);
      expect(r.interfaces[container].name).toBe('eth0');
      expect(r.ips.map((i: { address: string }) => i.address)).toEqual(['10.250.9.2/24', 'fd00:9::2/64']);
      for (const ip of r.ips) {
        expect(ip.interface).toBe(container);
        if (v.startsWith('0.')) expect(ip.version).toBe(ip.address.includes(':') ? '6' : '4');
        else expect(ip).not.toHaveProperty('version');
      }
      if (v !== '1.1.0')
        for (const i of r.interfaces) expect(Object.keys(i).every((k) => ['name', 'mac', 'sandbox'].includes(k))).toBe(true);
    }
    const del = await runPlugin({ plugin, command: 'DEL', node, config, containerID, netns: pod.path, ifname: 'eth0' });
    expect(del.code, del.stdout).toBe(0);
    expect(pod.link('eth0')).toBeUndefined();
  });
});

describe.skipIf(!isRoot || !haveBuild || !haveReference)(
  'host-local ADD result vs the reference, per version',
  { concurrent: true },
  () => {
    it.for(['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'].map((v) => [v] as const))('%s', async ([v], ctx) => {
      const t = fresh(ctx);
      const { world, node, dataDir } = t;
      const refData = join(dataDir, 'ref');
      const config = { cniVersion: v, name: uniqueName('hlv'), type: 'x', ipam: dualStackIpam(dataDir) };
      const base = { plugin: 'host-local', command: 'ADD', node, containerID: containerId(), netns: '/run/netns/unused', ifname: 'eth0' };
      const pod = world.pod(); // ours checks the namespace; the reference ignores it
      const [ours, ref] = await Promise.all([
        runPlugin({ ...base, config, netns: pod.path }),
        runPlugin({ ...base, node: world.node(), config: { ...config, ipam: { ...config.ipam, dataDir: refData } }, dir: REFERENCE_DIR }),
      ]);
      expect(ref.code, ref.stdout).toBe(0);
      expect(ours.code, ours.stdout + ours.stderr).toBe(0);
      expect(ours.json).toEqual(withoutEmptyDns(ref.json));
    });

    it('reads addresses the way Go does: leading-zero prefix, upper-case and v4-mapped forms', async (ctx) => {
      const t = fresh(ctx);
      const { world, node, dataDir } = t;
      const ipam = {
        type: 'host-local',
        ranges: [[{ subnet: '10.250.9.0/024', rangeStart: '::ffff:10.250.9.20' }], [{ subnet: 'FD00:9:0:0::/64' }]],
      };
      const config = { cniVersion: '1.0.0', name: uniqueName('hlg'), type: 'x' };
      const base = { plugin: 'host-local', command: 'ADD', containerID: containerId(), ifname: 'eth0' };
      const [ours, ref] = await Promise.all([
        runPlugin({ ...base, node, netns: t.world.pod().path, config: { ...config, ipam: { ...ipam, dataDir } } }),
        runPlugin({
          ...base,
          node: world.node(),
          netns: '/run/netns/unused',
          config: { ...config, ipam: { ...ipam, dataDir: join(dataDir, 'ref') } },
          dir: REFERENCE_DIR,
        }),
      ]);
      expect(ref.code, ref.stdout).toBe(0);
      expect(ours.code, ours.stdout + ours.stderr).toBe(0);
      expect(ours.json).toEqual(withoutEmptyDns(ref.json));
      expect(ours.json.ips.map((i: { address: string }) => i.address)).toEqual(['10.250.9.20/24', 'fd00:9::2/64']);
    });
  },
);

describe.skipIf(!isRoot || !haveBuild)('host-local and CNI_NETNS', () => {
  // host-local only writes lease files; like the reference it never enters CNI_NETNS, so a path only
  // the calling plugin can see (or none that exists) must not stop an allocation.
  it('allocates and releases whatever CNI_NETNS names: missing, not a netns, or its own', async (ctx) => {
    const t = fresh(ctx);
    const config = validConfig(t, 'host-local');
    for (const netns of ['/run/netns/cni-ts-protocol-missing', '/etc/hostname', t.node.path]) {
      const containerID = containerId();
      const add = await runPlugin(request(t, 'host-local', 'ADD', { netns, containerID, config }));
      expect(add.code, add.stdout).toBe(0);
      expect(add.json.ips).toHaveLength(1);
      const del = await runPlugin(request(t, 'host-local', 'DEL', { netns, containerID, config }));
      expect(del.code, del.stdout).toBe(0);
    }
    expectNothingChanged(t);
  });
});

// The standalone executable is one file serving every plugin (lib/platform/qjs/host.c picks the bytecode
// by the name it was invoked by, else by its first argument).
describe.skipIf(BUILD !== 'standalone' || !haveBuild)('standalone multi-call executable', () => {
  const run = (args: string[], argv0: string | undefined, input: string, env: Record<string, string>) => {
    const how = multicall(args, argv0);
    return spawnSync(how.file, how.args, { argv0: how.argv0, input, env, encoding: 'utf8' });
  };
  const version = (args: string[], argv0?: string) => run(args, argv0, '{"cniVersion":"1.0.0"}', { CNI_COMMAND: 'VERSION' });

  it('runs the plugin named by its first argument when invoked as cni-ts', () => {
    for (const plugin of PLUGINS) {
      const r = version([plugin]);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ cniVersion: '1.0.0', supportedVersions: [...SUPPORTED_VERSIONS] });
    }
  });

  it('prints its usage on stderr and exits 1 when no plugin is named (nothing on stdout)', () => {
    for (const [args, argv0] of [[[]], [['tuning']], [['../bridge']], [['tuning'], '/opt/cni/bin/tuning'], [[], '/x/bridge.old']] as Array<
      [string[], string?]
    >) {
      const r = version(args, argv0);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        'cni-ts multi-call executable; usage: cni-ts <bridge|host-local|ptp|portmap|loopback>, or invoke it through a link named after the plugin\n',
      );
    }
  });

  it('takes the invoked name over the first argument', () => {
    // STATUS tells them apart: host-local answers it itself, ptp asks its IPAM (absent from CNI_PATH).
    const config = JSON.stringify({
      cniVersion: '1.1.0',
      name: 'sel',
      type: 'ptp',
      ipam: { type: 'host-local', subnet: '10.9.0.0/24', dataDir: '/nonexistent/cni-ts' },
    });
    const status = (args: string[], argv0: string) => run(args, argv0, config, { CNI_COMMAND: 'STATUS', CNI_PATH: '/nonexistent' });
    const hostLocal = status(['ptp'], '/opt/cni/bin/host-local');
    expect(hostLocal.status, hostLocal.stdout).toBe(0);
    const ptp = status(['host-local'], '/opt/cni/bin/ptp');
    expect(ptp.status).toBe(1);
    expect(JSON.parse(ptp.stdout)).toMatchObject({ code: 120, msg: 'failed to find plugin "host-local" in path [/nonexistent]' });
  });
});
