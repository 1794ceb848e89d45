// File-system hygiene and injection resistance of the built plugins:
//  - lease, lock and round-robin files and the network directory get the modes the reference
//    host-local gives them (measured side by side), and nothing is group- or world-writable;
//  - a full ADD/CHECK/GC/STATUS/DEL life cycle writes nothing outside the configured data
//    directory (a whole temp tree, the plugin's working directory included, is snapshotted);
//  - shell metacharacters in every user-controlled string are never interpreted, and no portmap
//    value can end the iptables-restore line or nft command it goes into.
import { existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { firewallSnapshot, runRaw, treeDiff, treeSnapshot } from '../helpers/fuzz.ts';
import { containerId, haveBuild, haveReference, isRoot, PLUGIN_DIR, REFERENCE_DIR, runOk, uniqueName, World } from '../helpers/kernel.ts';

let world: World;
afterEach(() => world?.cleanup());

const mode = (path: string) => lstatSync(path).mode & 0o777;

describe.skipIf(!isRoot || !haveBuild)('file-system hygiene and injection resistance', () => {
  it.skipIf(!haveReference)("store files get the reference host-local's modes; nothing is group- or world-writable", async () => {
    world = new World();
    const node = world.node();
    const modes: Record<string, Record<string, number>> = {};
    for (const [impl, dir] of [
      ['ours', PLUGIN_DIR],
      ['reference', REFERENCE_DIR],
    ] as const) {
      const dataDir = world.tmpdir();
      const net = uniqueName('sec');
      const config = {
        cniVersion: '1.0.0',
        name: net,
        type: 'host-local',
        ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.55.0.0/24' }]] },
      };
      await runOk({
        plugin: 'host-local',
        command: 'ADD',
        node,
        dir,
        config,
        containerID: containerId(),
        netns: world.pod().path,
        ifname: 'eth0',
      });
      const netDir = join(dataDir, net);
      modes[impl] = {
        dir: mode(netDir),
        lock: mode(join(netDir, 'lock')),
        lease: mode(join(netDir, '10.55.0.2')),
        lastReserved: mode(join(netDir, 'last_reserved_ip.0')),
      };
    }
    expect(modes.ours).toEqual(modes.reference);
    expect(modes.ours!.dir).toBe(0o755);
    for (const [what, m] of Object.entries(modes.ours!)) expect(m & 0o022, `${what} is ${m.toString(8)}`).toBe(0);
  });

  it('an ADD/CHECK/GC/STATUS/DEL life cycle writes nothing outside the configured data directory', async () => {
    world = new World();
    const node = world.node();
    const pod = world.pod();
    const tree = world.tmpdir('cnits-tree-');
    const dataDir = join(tree, 'data');
    const cwd = join(tree, 'cwd');
    mkdirSync(cwd);
    const net = uniqueName('sec');
    const config = {
      cniVersion: '1.1.0',
      name: net,
      type: 'bridge',
      bridge: uniqueName('br'),
      isGateway: true,
      ipMasq: true,
      macspoofchk: true,
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.56.0.0/24' }]] },
    };
    const before = treeSnapshot(tree);
    const id = containerId();
    const env = { CNI_CONTAINERID: id, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', CNI_PATH: PLUGIN_DIR };
    const run = async (command: string, conf: object) => {
      const out = await runRaw(node, join(PLUGIN_DIR, 'bridge'), { ...env, CNI_COMMAND: command }, Buffer.from(JSON.stringify(conf)), cwd);
      expect(out.code, `${command}: ${out.stdout} ${out.stderr}`).toBe(0);
      return out.stdout;
    };
    const result = JSON.parse(await run('ADD', config));
    await run('CHECK', { ...config, prevResult: result });
    await run('STATUS', config);
    await run('GC', { ...config, 'cni.dev/valid-attachments': [{ containerID: id, ifname: 'eth0' }] });
    await run('DEL', { ...config, prevResult: result });

    const changed = treeDiff(before, treeSnapshot(tree)).split('\n').filter(Boolean);
    expect(changed.length).toBeGreaterThan(0); // the data directory itself was written
    expect(changed.filter((l) => !/^[+~-] data(\/|: )/.test(l))).toEqual([]);
    expect(existsSync(join('/var/lib/cni/networks', net))).toBe(false);
  });

  it('shell metacharacters in ids, names, CNI_ARGS and paths are never interpreted', async () => {
    world = new World();
    const node = world.node();
    const tree = world.tmpdir('cnits-inject-');
    const marker = join(tree, 'pwned');
    const payloads = [
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `;touch ${marker}`,
      `|touch ${marker}`,
      `&&touch ${marker}`,
      `\ntouch ${marker}`,
    ];
    let runs = 0;
    for (const p of payloads) {
      const pod = world.pod();
      const config = {
        cniVersion: '1.1.0',
        name: `net${p}`,
        type: 'bridge',
        bridge: p.slice(0, 15),
        ipMasq: true,
        ipam: { type: 'host-local', dataDir: join(tree, p), ranges: [[{ subnet: '10.57.0.0/24', gateway: p }]], resolvConf: p },
      };
      const envs: Array<Record<string, string>> = [
        { CNI_CONTAINERID: `id${p}`, CNI_IFNAME: 'eth0' },
        { CNI_CONTAINERID: 'id', CNI_IFNAME: p.slice(0, 15) },
        { CNI_CONTAINERID: 'id', CNI_IFNAME: 'eth0', CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${p};IP=${p}` },
      ];
      for (const plugin of ['bridge', 'ptp', 'host-local']) {
        for (const e of envs) {
          for (const conf of [config, { ...config, name: 'plain', bridge: 'br0x' }]) {
            const out = await runRaw(
              node,
              join(PLUGIN_DIR, plugin),
              { CNI_COMMAND: 'ADD', CNI_NETNS: pod.path, CNI_PATH: PLUGIN_DIR, ...e },
              Buffer.from(JSON.stringify(conf)),
              tree,
            );
            runs += 1;
            expect(out.code).not.toBe(0);
            expect(existsSync(marker), `${plugin} ${JSON.stringify(e)}`).toBe(false);
          }
        }
      }
    }
    expect(runs).toBe(payloads.length * 3 * 3 * 2);
  });

  it('portmap: values that could end an iptables-restore line or an nft command, or reach a shell, are refused; nothing changes', async () => {
    world = new World();
    const node = world.node();
    const tree = world.tmpdir('cnits-pminject-');
    const marker = join(tree, 'pwned');
    const rules = () => firewallSnapshot(node);
    const prevResult = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', sandbox: '/x' }],
      ips: [{ address: '10.60.0.5/24', interface: 0 }],
    };
    const base = {
      cniVersion: '1.1.0',
      name: 'pmsec',
      type: 'portmap',
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
      prevResult,
    };
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'pmsec', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: PLUGIN_DIR };
    const ok = await runRaw(node, join(PLUGIN_DIR, 'portmap'), env, Buffer.from(JSON.stringify(base)), tree);
    expect(ok.code, ok.stdout).toBe(0); // the shared chains exist: only an attachment's rules could change
    const before = rules();
    const mapping = (m: Record<string, unknown>) => ({
      runtimeConfig: { portMappings: [{ hostPort: 8081, containerPort: 80, protocol: 'tcp', ...m }] },
    });
    const hostile: Array<Record<string, unknown>> = [
      { conditionsV4: ['-d', '10.0.0.1\n-A INPUT -j DROP'] },
      { conditionsV4: ['-d', `10.0.0.1\r\n*filter\n-A INPUT -j DROP\nCOMMIT`] },
      { conditionsV4: [`$(touch ${marker})`] }, // not iptables-style, so nftables; nft itself refuses it (113)
      { backend: 'nftables', conditionsV4: [`ip daddr 10.0.0.1; flush ruleset`] },
      { backend: 'nftables', conditionsV4: [`ip daddr 10.0.0.1 # comment the jump away`] },
      { externalSetMarkChain: 'KUBE-MARK-MASQ\n-A INPUT -j DROP' },
      { externalSetMarkChain: `x;touch ${marker}` },
      mapping({ protocol: `tcp\n-A INPUT -j DROP` }),
      mapping({ hostIP: `10.0.0.1\n-A INPUT -j DROP` }),
      mapping({ hostIP: `$(touch ${marker})` }),
    ];
    for (const over of hostile) {
      const out = await runRaw(
        node,
        join(PLUGIN_DIR, 'portmap'),
        { ...env, CNI_CONTAINERID: 'hostile' },
        Buffer.from(JSON.stringify({ ...base, ...over })),
        tree,
      );
      expect(out.code, JSON.stringify(over)).not.toBe(0);
      // Refused as config (7, or 2 for an unsupported protocol), or by nft itself (113).
      expect(String(over.conditionsV4).startsWith('$(') ? [113] : [2, 7], JSON.stringify(over)).toContain(JSON.parse(out.stdout).code);
      expect(rules(), JSON.stringify(over)).toBe(before);
      expect(existsSync(marker)).toBe(false);
    }
  });

  it('a lone UTF-16 surrogate in a path becomes U+FFFD, as node:fs writes it (both builds name files alike)', async () => {
    world = new World();
    const node = world.node();
    const tree = world.tmpdir('cnits-utf-');
    const dataDir = `${tree}/a\ud800b\u{1f600}c`;
    const config = {
      cniVersion: '1.0.0',
      name: 'utfnet',
      type: 'host-local',
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.59.0.0/24' }]] },
    };
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'utf', CNI_IFNAME: 'eth0', CNI_NETNS: world.pod().path, CNI_PATH: PLUGIN_DIR };
    const out = await runRaw(node, join(PLUGIN_DIR, 'host-local'), env, Buffer.from(JSON.stringify(config)), tree);
    expect(out.code, out.stdout).toBe(0);
    expect(readdirSync(tree, { encoding: 'buffer' }).map((n) => n.toString('hex'))).toEqual([
      Buffer.from('a\ufffdb\u{1f600}c').toString('hex'),
    ]);
  });

  it('a NUL byte in a path is refused (error 5; STATUS 50) and never cuts the path short', async () => {
    // C file calls end a path at its first NUL: "<tree>/cut\0x" would become "<tree>/cut".
    world = new World();
    const node = world.node();
    const tree = world.tmpdir('cnits-nul-');
    const before = treeSnapshot(tree);
    for (const plugin of ['bridge', 'ptp', 'host-local']) {
      for (const command of ['ADD', 'DEL', 'STATUS']) {
        const config = {
          cniVersion: '1.1.0',
          name: 'nulnet',
          type: plugin,
          bridge: 'cnibrnul',
          ipam: { type: 'host-local', dataDir: `${tree}/cut\u0000x`, ranges: [[{ subnet: '10.58.0.0/24' }]] },
        };
        const env = { CNI_COMMAND: command, CNI_CONTAINERID: 'nul', CNI_IFNAME: 'eth0', CNI_NETNS: world.pod().path, CNI_PATH: PLUGIN_DIR };
        const out = await runRaw(node, join(PLUGIN_DIR, plugin), env, Buffer.from(JSON.stringify(config)), tree);
        if (command !== 'DEL') {
          expect(out.code, `${plugin} ${command}: ${out.stdout}`).not.toBe(0);
          // STATUS reports any failure to use the store as "not available" (50), the spec's STATUS code.
          expect(JSON.parse(out.stdout).code, `${plugin} ${command}`).toBe(command === 'STATUS' ? 50 : 5);
        }
        expect(treeDiff(before, treeSnapshot(tree)), `${plugin} ${command}`).toBe('');
      }
    }
  });
});
