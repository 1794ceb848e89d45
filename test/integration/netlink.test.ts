// The standalone build changes and reads the kernel over its own netlink socket: a whole
// ADD, CHECK and DEL of bridge and ptp (both modes, dual stack, the options that shape the
// kernel operations) starts no `ip`, `nsenter` or `sysctl` process, and prints no line saying it
// fell back to one. Stand-ins for the three commands come first on PATH: they log their
// arguments and run the real command (the harness's own `ip netns exec` passes through unlogged).
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILD, containerId, haveBuild, isRoot, type PluginRun, runPlugin, sh, uniqueName, World } from '../helpers/kernel.ts';

let world: World;
beforeEach(() => {
  world = new World();
});
afterEach(() => world.cleanup());

/** A PATH whose ip, nsenter and sysctl log to `log` before running the real command. */
function loggingPath(): { path: string; log: string } {
  const dir = world.tmpdir('cnits-path-');
  const log = join(dir, 'spawned.log');
  writeFileSync(log, '');
  for (const cmd of ['ip', 'nsenter', 'sysctl']) {
    const real = sh('sh', ['-c', `command -v ${cmd}`]).trim();
    const passThrough = cmd === 'ip' ? 'if [ "$1" = netns ] && [ "$2" = exec ]; then exec "$REAL" "$@"; fi\n' : '';
    const script = `#!/bin/sh\nREAL=${real}\n${passThrough}echo "${cmd} $*" >> ${log}\nexec "$REAL" "$@"\n`;
    writeFileSync(join(dir, cmd), script);
    chmodSync(join(dir, cmd), 0o755);
  }
  return { path: `${dir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, log };
}

async function lifecycle(plugin: string, config: Record<string, unknown>): Promise<{ runs: PluginRun[]; spawned: string }> {
  const { path, log } = loggingPath();
  const node = world.node();
  const pod = world.pod();
  const id = containerId();
  const base = { plugin, node, containerID: id, netns: pod.path, ifname: 'eth0', extraEnv: { PATH: path } };
  const add = await runPlugin({ ...base, command: 'ADD', config });
  expect(add.code, add.stdout + add.stderr).toBe(0);
  const check = await runPlugin({ ...base, command: 'CHECK', config: { ...config, prevResult: add.json } });
  expect(check.code, check.stdout + check.stderr).toBe(0);
  const del = await runPlugin({ ...base, command: 'DEL', config: { ...config, prevResult: add.json } });
  expect(del.code, del.stdout + del.stderr).toBe(0);
  return { runs: [add, check, del], spawned: readFileSync(log, 'utf8') };
}

const ipam = (dataDir: string) => ({
  type: 'host-local',
  dataDir,
  ranges: [[{ subnet: '10.78.0.0/24' }], [{ subnet: 'fd00:78::/64' }]],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }, { dst: '10.96.0.0/12', priority: 100 }],
});

const CONFIGS: Record<string, (dataDir: string) => Record<string, unknown>> = {
  'bridge, dual stack, gateway, hairpin, mtu': (dataDir) => ({
    type: 'bridge',
    bridge: uniqueName('br'),
    isGateway: true,
    isDefaultGateway: false,
    hairpinMode: true,
    mtu: 1400,
    ipam: ipam(dataDir),
  }),
  'bridge, promiscuous, port isolation': (dataDir) => ({
    type: 'bridge',
    bridge: uniqueName('br'),
    isGateway: true,
    promiscMode: true,
    portIsolation: true,
    ipam: ipam(dataDir),
  }),
  'ptp reference mode, dual stack': (dataDir) => ({ type: 'ptp', ipam: ipam(dataDir) }),
  'ptp routed mode, dual stack': (dataDir) => ({ type: 'ptp', proxyArp: true, mtu: 1450, ipam: ipam(dataDir) }),
};

describe.skipIf(!isRoot || !haveBuild || BUILD !== 'standalone')('standalone: kernel work without processes', () => {
  it.each(Object.keys(CONFIGS))('%s: ADD, CHECK and DEL spawn no ip, nsenter or sysctl', async (what) => {
    const config: Record<string, unknown> = { cniVersion: '1.1.0', name: uniqueName('net'), ...CONFIGS[what]!(world.tmpdir()) };
    const { runs, spawned } = await lifecycle(config.type as string, config);
    expect(spawned).toBe('');
    for (const r of runs) expect(r.stderr).not.toMatch(/netlink (cannot|does not)/);
  });

  it('the stand-ins do log (the test above can fail)', async () => {
    const config = { cniVersion: '1.1.0', name: uniqueName('net'), ...CONFIGS['ptp routed mode, dual stack']!(world.tmpdir()) };
    const { path, log } = loggingPath();
    const r = await runPlugin({
      plugin: 'ptp',
      command: 'ADD',
      node: world.node(),
      config,
      containerID: containerId(),
      netns: world.pod().path,
      ifname: 'eth0',
      extraEnv: { PATH: path, CNI_TS_NETLINK: '0' }, // the standalone without its socket: processes
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toMatch(/^ip -batch -$/m);
  });
});
