// The release archives (scripts/release.mjs) as an operator or a node image uses them: built for
// every architecture this machine can build and run, checked with sha256sum/sha512sum -c,
// unpacked with `tar -xzf … -C <bin dir>` over a directory that already holds a foreign plugin of
// the same name, and a pod run through the unpacked plugins: bridge + host-local (two pods that
// ping each other, CHECK, DEL) and ptp. The arm64 archive's plugins run under qemu-user: the
// runtime (this test) execs them through emulatorDir's scripts, while CNI_PATH names the unpacked
// directory itself, so bridge finds its host-local there as on an arm64 node (and runs it
// in-process: without binfmt_misc an exec of the arm64 file would fail).
//
// It builds its own archives, so it runs once, with the default build (CNI_TS_BUILD unset).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCH } from '../../lib/platform/arch.ts';
import { PLUGINS } from '../../scripts/build.mjs';
import { archiveName } from '../../scripts/release.mjs';
import { containerId, emulatorDir, isRoot, ROOT, runOk, World } from '../helpers/kernel.ts';
import { ARCHES, canTarget } from '../helpers/targets.ts';

const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const runOnce = (process.env.CNI_TS_BUILD ?? 'bundle') === 'bundle';

let out: string;
const files = new World();
beforeAll(() => {
  out = files.tmpdir('cnits-release-');
  const arches = ARCHES.filter(canTarget).flatMap((a) => ['--arch', a]);
  if (runOnce && isRoot)
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'release.mjs'), '--out', out, ...arches], { stdio: 'inherit' });
}, 600_000);
afterAll(() => files.cleanup());

describe.skipIf(!runOnce || !isRoot).each(ARCHES.filter(canTarget))('%s release archive', (arch) => {
  const name = archiveName(arch, version);
  let world: World;
  beforeAll(() => {
    world = new World();
  });
  afterAll(() => world.cleanup());

  it('has .sha256 and .sha512 files in the reference format that sha256sum/sha512sum -c accept', () => {
    for (const alg of ['sha256', 'sha512']) {
      const text = readFileSync(join(out, `${name}.${alg}`), 'utf8');
      expect(text).toMatch(new RegExp(`^[0-9a-f]{${alg === 'sha256' ? 64 : 128}}  ${name.replace(/\./g, '\\.')}\n$`));
      expect(execFileSync(`${alg}sum`, ['-c', `${name}.${alg}`], { cwd: out, encoding: 'utf8' })).toBe(`${name}: OK\n`);
    }
  });

  it('holds the executable and one link per plugin, owned by root, nothing else', () => {
    const listing = execFileSync('tar', ['-tvzf', join(out, name)], { encoding: 'utf8' })
      .trim()
      .split('\n');
    const entries = listing.map((l) => l.split(/\s+/)).map((f) => ({ mode: f[0], owner: f[1], path: f[5], target: f[7] }));
    expect(entries).toEqual([
      { mode: '-rwxr-xr-x', owner: '0/0', path: './cni-ts', target: undefined },
      ...PLUGINS.map((p) => ({ mode: 'lrwxrwxrwx', owner: '0/0', path: `./${p}`, target: 'cni-ts' })),
    ]);
    const file = execFileSync('file', ['-b', '-L', join(out, name)], { encoding: 'utf8' });
    expect(file).toMatch(/gzip compressed data/);
  });

  it('every plugin name in it answers VERSION (through qemu-user for a foreign target)', () => {
    const bin = world.tmpdir('cnits-version-');
    execFileSync('tar', ['-xzf', join(out, name), '-C', bin]);
    const exec = arch === ARCH ? bin : emulatorDir(bin, arch);
    for (const p of PLUGINS) {
      const stdout = execFileSync(join(exec, p), [], {
        input: '{"cniVersion":"1.0.0"}',
        env: { CNI_COMMAND: 'VERSION' },
        encoding: 'utf8',
      });
      expect({ p, ...JSON.parse(stdout) }).toMatchObject({ p, cniVersion: '1.0.0', supportedVersions: expect.arrayContaining(['1.1.0']) });
    }
  });

  it('tar -xzf into a bin dir replaces a foreign plugin of the same name; a pod runs through it', async () => {
    const bin = world.tmpdir('cnits-optcnibin-');
    writeFileSync(join(bin, 'bridge'), '#!/bin/sh\necho foreign\n', { mode: 0o755 });
    writeFileSync(join(bin, 'portmap-foreign'), 'left alone', { mode: 0o755 });
    execFileSync('tar', ['-xzf', join(out, name), '-C', bin]);
    expect(readdirSync(bin).sort()).toEqual(['cni-ts', ...PLUGINS, 'portmap-foreign'].sort());
    for (const p of PLUGINS) expect(readlinkSync(join(bin, p))).toBe('cni-ts');
    const arches = execFileSync('file', ['-b', join(bin, 'cni-ts')], { encoding: 'utf8' });
    expect(arches).toContain(arch === 'arm64' ? 'ARM aarch64' : 'x86-64');
    expect(arches).toContain('statically linked');

    // The runtime execs what it finds in its bin dir (through qemu-user for a foreign target).
    const exec = arch === ARCH ? bin : emulatorDir(bin, arch);
    const node = world.node();
    const dataDir = world.tmpdir();
    const bridge = {
      cniVersion: '1.1.0',
      name: `rel${arch}`,
      type: 'bridge',
      bridge: `cnitsrel${arch === 'arm64' ? 'a' : 'x'}0`,
      isGateway: true,
      ipam: { type: 'host-local', dataDir, subnet: '10.81.0.0/24' },
    };
    const pods = [world.pod(), world.pod()];
    const ids = [containerId(), containerId()];
    const results = [];
    for (const [i, pod] of pods.entries()) {
      const add = { plugin: 'bridge', node, netns: pod.path, containerID: ids[i], ifname: 'eth0', dir: exec, path: bin };
      results.push(await runOk({ ...add, command: 'ADD', config: bridge }));
    }
    const addresses = results.map((r) => r.ips[0].address.split('/')[0]);
    expect(addresses).toEqual(['10.81.0.2', '10.81.0.3']);
    expect(pods[0]!.ping(addresses[1]!)).toBe(true);
    expect(pods[1]!.ping('10.81.0.1')).toBe(true);
    for (const [i, pod] of pods.entries()) {
      const call = { plugin: 'bridge', node, netns: pod.path, containerID: ids[i], ifname: 'eth0', dir: exec, path: bin };
      await runOk({ ...call, command: 'CHECK', config: { ...bridge, prevResult: results[i] } });
      await runOk({ ...call, command: 'DEL', config: { ...bridge, prevResult: results[i] } });
      expect(pod.links().map((l) => l.ifname)).toEqual(['lo']);
    }
    expect(readdirSync(join(dataDir, bridge.name)).filter((f) => /^\d/.test(f))).toEqual([]);

    // ptp, the other plugin kind: a routed pod reaching its node.
    const pod = world.pod();
    const ptp = { cniVersion: '1.0.0', name: `relptp${arch}`, type: 'ptp', ipam: { type: 'host-local', dataDir, subnet: '10.82.0.0/24' } };
    const call = { plugin: 'ptp', node, netns: pod.path, containerID: containerId(), ifname: 'eth0', dir: exec, path: bin };
    const routed = await runOk({ ...call, command: 'ADD', config: ptp });
    expect(pod.ping(routed.ips[0].gateway)).toBe(true);
    await runOk({ ...call, command: 'DEL', config: { ...ptp, prevResult: routed } });
  });
});
