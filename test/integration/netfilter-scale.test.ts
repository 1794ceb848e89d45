// Masquerade, spoof check and portmap's host ports at node scale, through the built plugins in a node namespace:
// the nf_tables netlink path of the standalone build against nft's own (same text in `nft list`,
// and either one's DEL removes what the other made), a 250-pod node where one DEL touches nothing
// but its own rules, 50 concurrent ADDs/DELs on one table, kill -9 during ADD leaving each
// transaction whole or absent, and a ruleset that kube-proxy-like chains and a user's own table
// share with us, which no call ever changes. Runs against either build (CNI_TS_BUILD).
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chainName, parseNatSave } from '../../lib/firewall/masquerade-iptables.ts';
import { commentForInstance } from '../../lib/firewall/masquerade-nft.ts';
import { setupScript } from '../../lib/firewall/masquerade-setup.ts';
import { dnatChainName, entryRules, ruleLine } from '../../lib/firewall/portmap-iptables.ts';
import { dnatRules, planSetup as planHostportsIptables } from '../../lib/firewall/portmap-iptables-setup.ts';
import { type Step, stepsScript, viewOfJson } from '../../lib/firewall/portmap-nft.ts';
import { attachmentRules, planSetup as planHostportsNft } from '../../lib/firewall/portmap-nft-setup.ts';
import type { HostportWant } from '../../lib/firewall/portmap-want.ts';
import { parseCidr } from '../../lib/net/address.ts';
import {
  BUILD,
  haveBuild,
  haveReference,
  isRoot,
  type Netns,
  PLUGIN_DIR,
  REFERENCE_DIR,
  runOk,
  runPlugin,
  sh,
  uniqueName,
  World,
} from '../helpers/kernel.ts';

const NFT_PROCESS = { CNI_TS_NFTABLES_NETLINK: '0' };

interface Net {
  name: string;
  bridge: string;
  dataDir: string;
  backend: 'iptables' | 'nftables';
  spoof?: boolean;
  dual?: boolean;
}

const config = (n: Net) => ({
  cniVersion: '1.0.0',
  name: n.name,
  type: 'bridge',
  bridge: n.bridge,
  isGateway: true,
  ipMasq: true,
  ipMasqBackend: n.backend,
  macspoofchk: !!n.spoof,
  ipam: {
    type: 'host-local',
    dataDir: n.dataDir,
    ranges: n.dual ? [[{ subnet: '10.91.0.0/16' }], [{ subnet: 'fd91::/64' }]] : [[{ subnet: '10.91.0.0/16' }]],
  },
});

const run = (node: Netns, command: string, n: Net, id: string, netns: string, extraEnv: Record<string, string> = {}, dir = PLUGIN_DIR) =>
  runOk({ plugin: 'bridge', dir, path: dir, command, config: config(n), node, containerID: id, netns, ifname: 'eth0', extraEnv });

/** `nft list table …` text, '' when absent. */
const nftText = (node: Netns, ...table: string[]): string => {
  const r = node.tryExec('nft', ['list', 'table', ...table]);
  return r.code === 0 ? r.stdout : '';
};
/** Rules with their handles, one string each (`nft -a`), for rule-by-rule comparison. */
const nftRulesWithHandles = (node: Netns, ...table: string[]): string[] => {
  const r = node.tryExec('nft', ['-a', 'list', 'table', ...table]);
  return r.code === 0 ? r.stdout.split('\n').filter((l) => /# handle \d+$/.test(l) && !/^\s*(chain|table)\b/.test(l.trim())) : [];
};
const natSave = (node: Netns, v6 = false): string[] =>
  node
    .exec(v6 ? 'ip6tables-save' : 'iptables-save', ['-t', 'nat'])
    .split('\n')
    .filter((l) => l.startsWith('-A ') || l.startsWith(':'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));

/**
 * A PATH whose firewall commands (and `others`) log their arguments, then run the real ones. The
 * iptables commands are links to one logging xtables-nft-multi, as on the host, so the plugin
 * still recognises iptables-nft (whose rules it may then read and remove over netlink). `spawned()`:
 * the logged command lines.
 */
function loggingPath(world: World, others: string[] = []): { env: Record<string, string>; spawned: () => string[] } {
  const dir = world.tmpdir('cnits-fwpath-');
  const log = join(dir, 'spawned.log');
  writeFileSync(log, '');
  const realPath = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  const multi = join(dir, 'xtables-nft-multi');
  writeFileSync(multi, `#!/bin/sh\ncmd=$(basename "$0")\necho "$cmd $*" >> ${log}\nPATH=${realPath} exec "$cmd" "$@"\n`);
  chmodSync(multi, 0o755);
  for (const cmd of ['iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore', 'ip6tables-restore']) {
    symlinkSync(multi, join(dir, cmd));
  }
  for (const cmd of ['nft', ...others]) {
    const real = sh('sh', ['-c', `command -v ${cmd}`]).trim();
    writeFileSync(join(dir, cmd), `#!/bin/sh\necho "${cmd} $*" >> ${log}\nexec ${real} "$@"\n`);
    chmodSync(join(dir, cmd), 0o755);
  }
  return {
    env: { PATH: `${dir}:${realPath}` },
    spawned: () => {
      const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      writeFileSync(log, '');
      return lines;
    },
  };
}

const canRun = isRoot && haveBuild;

/**
 * kube-proxy's nat chains, jumps and masquerade mark as it writes them (iptables-restore lines, up to
 * COMMIT), with `chains` and `rules` of a test's own: what the firewall code must never disturb.
 */
function kubeProxyNat(chains: string[] = [], rules: string[] = []): string[] {
  return [
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ...chains,
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MASQUERADE --random-fully',
    ...rules,
    'COMMIT',
  ];
}

describe.skipIf(!canRun)(`netfilter at node scale (${BUILD} build)`, () => {
  const world = new World();
  afterEach(() => world.cleanup());

  const net = (over: Partial<Net> = {}): Net => ({
    name: uniqueName('nfnet'),
    bridge: uniqueName('nfbr'),
    dataDir: world.tmpdir(),
    backend: 'nftables',
    ...over,
  });

  it('our nf_tables transactions leave the text `nft list` prints for the nft-process path, and each path deletes what the other made', async () => {
    const [viaDefault, viaNft] = [world.node(), world.node()];
    const id = `cnits-${uniqueName('lay')}`;
    const mac = '02:42:ac:11:00:07';
    const layouts: string[][] = [];
    for (const [node, env] of [
      [viaDefault, {}],
      [viaNft, NFT_PROCESS],
    ] as const) {
      const n = { ...net({ spoof: true, dual: true }), name: 'laynet', bridge: 'laybr0' };
      const pod = world.pod();
      const cfg = { ...config(n), runtimeConfig: { mac } };
      const res = await runOk({
        plugin: 'bridge',
        command: 'ADD',
        config: cfg,
        node,
        containerID: id,
        netns: pod.path,
        ifname: 'eth0',
        extraEnv: env,
      });
      const veth = res.interfaces[1].name as string;
      layouts.push([nftText(node, 'inet', 'cni_plugins_masquerade'), nftText(node, 'bridge', 'nat').replaceAll(veth, '<veth>')]);
      await runOk({
        plugin: 'bridge',
        command: 'CHECK',
        config: { ...cfg, prevResult: res },
        node,
        containerID: id,
        netns: pod.path,
        ifname: 'eth0',
      });
    }
    expect(layouts[0]![0]).toContain(
      `ip6 saddr fd91::2 ip6 daddr != fd91::/64 masquerade comment "${commentForInstance('laynet', 'eth0', id)}"`,
    );
    expect(layouts[0]![1]).toContain(`ether saddr ${mac} return comment "macspoofchk-${id}-eth0"`);
    expect(layouts[0]).toEqual(layouts[1]);

    // Cross DEL: each namespace's rules removed by the other path (the pod is gone: found by name only).
    for (const [node, env] of [
      [viaDefault, NFT_PROCESS],
      [viaNft, {}],
    ] as const) {
      const n = { ...net({ spoof: true, dual: true }), name: 'laynet', bridge: 'laybr0' };
      await run(node, 'DEL', n, id, '', env);
      expect(nftRulesWithHandles(node, 'inet', 'cni_plugins_masquerade').filter((l) => l.includes('masquerade comment'))).toEqual([]);
      expect(nftRulesWithHandles(node, 'bridge', 'nat')).toEqual([]);
    }
  });

  it.skipIf(BUILD !== 'standalone')(
    'standalone, nftables backend: ADD, CHECK and DEL with masquerade and spoof check start no firewall process',
    async () => {
      // Stand-ins for every firewall command come first on PATH: they log, then run the real one.
      const logged = loggingPath(world);
      const node = world.node();
      const pod = world.pod();
      const id = `cnits-${uniqueName('np')}`;
      const cfg = config(net({ spoof: true, dual: true }));
      const base = {
        plugin: 'bridge',
        node,
        containerID: id,
        netns: pod.path,
        ifname: 'eth0',
        extraEnv: logged.env,
      };
      const add = await runPlugin({ ...base, command: 'ADD', config: cfg });
      expect(add.code, add.stdout + add.stderr).toBe(0);
      const check = await runPlugin({ ...base, command: 'CHECK', config: { ...cfg, prevResult: add.json } });
      expect(check.code, check.stdout + check.stderr).toBe(0);
      const del = await runPlugin({ ...base, command: 'DEL', config: { ...cfg, prevResult: add.json } });
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(logged.spawned()).toEqual([]);
      expect([add, check, del].map((r) => r.stderr).join('')).not.toMatch(/using nft/);
      expect(nftText(node, 'inet', 'cni_plugins_masquerade')).not.toContain(id);
      expect(nftText(node, 'bridge', 'nat')).not.toContain(id);
    },
  );

  it.skipIf(!haveReference)('the reference bridge DELs what we made (iptables masquerade, spoof check), dual stack', async () => {
    const node = world.node();
    const pod = world.pod();
    const n = net({ backend: 'iptables', spoof: true, dual: true });
    const id = `cnits-${uniqueName('ref')}`;
    await run(node, 'ADD', n, id, pod.path);
    expect(natSave(node).filter((l) => l.includes(chainName(n.name, id)))).toHaveLength(4);
    expect(nftRulesWithHandles(node, 'bridge', 'nat')).toHaveLength(4);
    await run(node, 'DEL', n, id, pod.path, {}, REFERENCE_DIR);
    expect(natSave(node).filter((l) => l.includes('CNI-'))).toEqual([]);
    expect(natSave(node, true).filter((l) => l.includes('CNI-'))).toEqual([]);
    expect(nftRulesWithHandles(node, 'bridge', 'nat')).toEqual([]);
  });

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: a 250-pod node keeps every attachment's rules; one DEL removes its own and leaves the other 249 rule by rule`, async () => {
      const node = world.node();
      const n = net({ backend });
      // 248 background attachments written straight in the reference layout (one transaction),
      // then two through the plugin.
      const bg = Array.from({ length: 248 }, (_, i) => ({ id: `cnits-bg-${i}`, ip: `10.91.${1 + (i >> 8)}.${i & 255}/16` }));
      if (backend === 'nftables') {
        node.exec('nft', ['-f', '-'], bg.map((x) => setupScript(n.name, 'eth0', x.id, [x.ip], [])).join(''));
      } else {
        const lines = bg.flatMap((x) => {
          const c = chainName(n.name, x.id);
          const cm = `-m comment --comment "name: \\"${n.name}\\" id: \\"${x.id}\\""`;
          return [
            `-N ${c}`,
            `-A ${c} -d 10.91.0.0/16 ${cm} -j ACCEPT`,
            `-A ${c} ! -d 224.0.0.0/4 ${cm} -j MASQUERADE`,
            `-A POSTROUTING -s ${x.ip.split('/')[0]}/32 ${cm} -j ${c}`,
          ];
        });
        node.exec('iptables-restore', ['--noflush'], `*nat\n${lines.join('\n')}\nCOMMIT\n`);
      }
      const [p1, p2] = [world.pod(), world.pod()];
      const [a, b] = [`cnits-${uniqueName('a')}`, `cnits-${uniqueName('b')}`];
      await run(node, 'ADD', n, a, p1.path);
      await run(node, 'ADD', n, b, p2.path);
      const snapshot = () => (backend === 'nftables' ? nftRulesWithHandles(node, 'inet', 'cni_plugins_masquerade') : natSave(node));
      const before = snapshot();
      const mine = (id: string) => (l: string) =>
        backend === 'nftables' ? l.includes(commentForInstance(n.name, 'eth0', id)) : l.includes(chainName(n.name, id));
      for (const id of [...bg.map((x) => x.id), a, b]) expect(before.filter(mine(id)).length, id).toBe(backend === 'nftables' ? 1 : 4);

      await run(node, 'DEL', n, a, p1.path);
      expect(snapshot()).toEqual(before.filter((l) => !mine(a)(l)));
      await run(node, 'DEL', n, 'cnits-bg-117', ''); // a background pod whose namespace is long gone
      expect(snapshot()).toEqual(before.filter((l) => !mine(a)(l) && !mine('cnits-bg-117')(l)));
    });
  }

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: 50 concurrent ADDs and DELs on one table each land exactly once`, async () => {
      const node = world.node();
      const n = net({ backend, spoof: backend === 'nftables' });
      const first = Array.from({ length: 25 }, () => ({ id: `cnits-${uniqueName('c')}`, pod: world.pod() }));
      const second = Array.from({ length: 25 }, () => ({ id: `cnits-${uniqueName('d')}`, pod: world.pod() }));
      await Promise.all(first.map((p) => run(node, 'ADD', n, p.id, p.pod.path)));
      // Half of them leave while as many arrive: 50 plugin runs on the same tables at once.
      await Promise.all([
        ...first.map((p) => run(node, 'DEL', n, p.id, p.pod.path)),
        ...second.map((p) => run(node, 'ADD', n, p.id, p.pod.path)),
      ]);
      if (backend === 'nftables') {
        const rules = nftRulesWithHandles(node, 'inet', 'cni_plugins_masquerade');
        for (const p of first) expect(rules.filter((l) => l.includes(p.id))).toEqual([]);
        for (const p of second) expect(rules.filter((l) => l.includes(commentForInstance(n.name, 'eth0', p.id)))).toHaveLength(1);
        expect(rules.filter((l) => !l.includes('masquerade comment'))).toHaveLength(3); // postrouting
        const spoof = nftRulesWithHandles(node, 'bridge', 'nat');
        for (const p of second) expect(spoof.filter((l) => l.includes(`macspoofchk-${p.id}-eth0`))).toHaveLength(4);
        expect(spoof).toHaveLength(4 * second.length);
      } else {
        const rules = natSave(node);
        for (const p of first) expect(rules.filter((l) => l.includes(chainName(n.name, p.id)))).toEqual([]);
        for (const p of second) expect(rules.filter((l) => l.includes(chainName(n.name, p.id)))).toHaveLength(4);
      }
      await Promise.all(second.map((p) => run(node, 'DEL', n, p.id, p.pod.path)));
      expect(nftRulesWithHandles(node, 'bridge', 'nat')).toEqual([]);
      expect(natSave(node).filter((l) => l.includes('CNI-'))).toEqual([]);
      expect(nftRulesWithHandles(node, 'inet', 'cni_plugins_masquerade').filter((l) => l.includes('masquerade comment'))).toEqual([]);
    });
  }

  it('kill -9 during ADD leaves each firewall transaction whole or absent, and DEL removes whatever is there', async () => {
    const node = world.node();
    const n = net({ spoof: true, dual: true });
    const addMs = await (async () => {
      const t0 = Date.now();
      const pod = world.pod();
      await run(node, 'ADD', n, 'cnits-warm', pod.path);
      await run(node, 'DEL', n, 'cnits-warm', pod.path);
      return Date.now() - t0;
    })();
    for (let i = 0; i < 16; i++) {
      const pod = world.pod();
      const id = `cnits-${uniqueName('k')}`;
      const delay = (addMs / 2) * (i / 16);
      await new Promise<void>((resolve) => {
        const child = spawn('ip', ['netns', 'exec', node.name, `${PLUGIN_DIR}/bridge`], {
          env: {
            PATH: process.env.PATH,
            CNI_COMMAND: 'ADD',
            CNI_CONTAINERID: id,
            CNI_NETNS: pod.path,
            CNI_IFNAME: 'eth0',
            CNI_PATH: PLUGIN_DIR,
          },
          stdio: ['pipe', 'ignore', 'ignore'],
        });
        child.stdin.end(JSON.stringify(config(n)));
        setTimeout(() => child.kill('SIGKILL'), delay);
        child.on('close', () => resolve());
      });
      const masq = nftRulesWithHandles(node, 'inet', 'cni_plugins_masquerade').filter((l) =>
        l.includes(commentForInstance(n.name, 'eth0', id)),
      );
      expect([0, 2], `masquerade rules after a kill at ${delay.toFixed(0)} ms`).toContain(masq.length);
      const spoof = nftRulesWithHandles(node, 'bridge', 'nat').filter((l) => l.includes(`macspoofchk-${id}-eth0`));
      expect([0, 4], `spoof check rules after a kill at ${delay.toFixed(0)} ms`).toContain(spoof.length);
      const chains = nftText(node, 'bridge', 'nat').includes(`chain cni-br-iface-${id}-eth0 `);
      expect(chains).toBe(spoof.length === 4);
      await run(node, 'DEL', n, id, pod.path);
      expect(nftText(node, 'bridge', 'nat')).not.toContain(id);
      expect(nftText(node, 'inet', 'cni_plugins_masquerade')).not.toContain(id);
    }
  });

  it('kube-proxy-like chains and a user’s own nftables table are never disturbed', async () => {
    const node = world.node();
    node.exec(
      'iptables-restore',
      ['--noflush'],
      [
        ...kubeProxyNat(),
        '*filter',
        ':KUBE-FORWARD - [0:0]',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
        'COMMIT',
        '',
      ].join('\n'),
    );
    node.exec(
      'nft',
      ['-f', '-'],
      [
        'table inet user_fw {',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        '    tcp dport 22 accept comment "ssh"',
        '  }',
        '}',
        'table bridge nat {',
        '  chain PREROUTING {',
        '    type filter hook prerouting priority -300; policy accept;',
        '    ether type arp accept comment "someone else"',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const foreign = () => ({
      nat: natSave(node).filter((l) => !l.includes('CNI-')),
      filter: node
        .exec('iptables-save', ['-t', 'filter'])
        .split('\n')
        .filter((l) => l.startsWith('-A') || l.startsWith(':'))
        .map((l) => l.replace(/ \[\d+:\d+\]$/, '')),
      user: nftRulesWithHandles(node, 'inet', 'user_fw'),
      bridge: nftRulesWithHandles(node, 'bridge', 'nat').filter((l) => l.includes('someone else')),
    });
    const before = foreign();
    expect(before.bridge).toHaveLength(1);
    const pods = Array.from({ length: 4 }, (_, i) => ({
      id: `cnits-${uniqueName('f')}`,
      pod: world.pod(),
      backend: i % 2 ? ('iptables' as const) : ('nftables' as const),
    }));
    const shared = net({ spoof: true, dual: true }); // one network; the backend is chosen per pod
    for (const p of pods) await run(node, 'ADD', { ...shared, backend: p.backend }, p.id, p.pod.path);
    expect(foreign()).toEqual(before);
    for (const p of pods) await run(node, 'DEL', { ...shared, backend: p.backend }, p.id, p.pod.path);
    expect(foreign()).toEqual(before);
    expect(natSave(node).filter((l) => l.includes('CNI-'))).toEqual([]);
    expect(nftRulesWithHandles(node, 'bridge', 'nat')).toEqual(before.bridge);
  });
});

// ---------------------------------------------------------------- portmap

/** portmap's host ports at node scale: the same properties, for its two backends' layouts. */
describe.skipIf(!canRun)(`portmap at node scale (${BUILD} build)`, () => {
  const world = new World();
  afterEach(() => world.cleanup());
  const NET = 'pmscale';

  /** Pod i: 10.92.x.y/16 and fd92::x/64, host port 20000 + i → 80 (tcp). */
  const podOf = (i: number) => ({
    v4: `10.92.${(i + 2) >> 8}.${(i + 2) & 255}`,
    v6: `fd92::${(i + 2).toString(16)}`,
    hostPort: 20000 + i,
  });
  const wantOf = (i: number, over: Partial<HostportWant> = {}): HostportWant => ({
    mappings: [{ hostPort: podOf(i).hostPort, containerPort: 80, protocol: 'tcp' }],
    pod: { 4: parseCidr(`${podOf(i).v4}/16`)!, 6: parseCidr(`${podOf(i).v6}/64`)! },
    snat: true,
    masqAll: false,
    mark: 0x2000,
    conditions: { 4: [], 6: [] },
    ...over,
  });
  const pmConfig = (backend: 'iptables' | 'nftables', i?: number, over: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: NET,
    type: 'portmap',
    backend,
    ...(i === undefined
      ? {}
      : {
          runtimeConfig: { portMappings: [{ hostPort: podOf(i).hostPort, containerPort: 80, protocol: 'tcp' }] },
          prevResult: {
            cniVersion: '1.0.0',
            interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/x' }],
            ips: [
              { address: `${podOf(i).v4}/16`, interface: 0 },
              { address: `${podOf(i).v6}/64`, interface: 0 },
            ],
          },
        }),
    ...over,
  });
  /** portmap never enters CNI_NETNS: the node's own path stands in for the pod's. */
  const pm = (node: Netns, command: string, id: string, cfg: object, extraEnv: Record<string, string> = {}) =>
    runOk({ plugin: 'portmap', command, config: cfg, node, containerID: id, netns: node.path, ifname: 'eth0', extraEnv });

  const nftHostports = (node: Netns): string[] => [
    ...nftRulesWithHandles(node, 'ip', 'cni_hostport').map((l) => `ip ${l.trim()}`),
    ...nftRulesWithHandles(node, 'ip6', 'cni_hostport').map((l) => `ip6 ${l.trim()}`),
  ];
  const natBoth = (node: Netns): string[] => [...natSave(node).map((l) => `4 ${l}`), ...natSave(node, true).map((l) => `6 ${l}`)];
  /** Lines of one attachment: its comment (nftables) or its chain (iptables). */
  const mineIn = (backend: 'iptables' | 'nftables', id: string) => (l: string) =>
    backend === 'nftables' ? l.includes(`comment "${id}"`) : l.includes(dnatChainName(NET, id));
  /** Dual stack, one mapping: nftables 3 + 2 rules; iptables (chain, hairpin, localhost, DNAT, entry) 5 + 4 lines. */
  const PER_POD = { nftables: 5, iptables: 9 };
  const snapshot = (node: Netns, backend: 'iptables' | 'nftables') => (backend === 'nftables' ? nftHostports(node) : natBoth(node));

  /** Background attachments written straight in the layout (one transaction per family), as a node with that many pods has them. */
  function writeBackground(node: Netns, backend: 'iptables' | 'nftables', ids: string[]): void {
    if (backend === 'nftables') {
      const none = { 4: viewOfJson(null, ''), 6: viewOfJson(null, '') };
      const steps = ids.flatMap((id, i): Step[] =>
        i === 0 ? planHostportsNft(id, wantOf(i), none)! : attachmentRules(wantOf(i)).map((r) => ({ op: 'rule', ...r, comment: id })),
      );
      node.exec('nft', ['-f', '-'], stepsScript(steps));
      return;
    }
    for (const f of [4, 6] as const) {
      const empty = parseNatSave('*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n');
      const lines = ids.flatMap((id, i) =>
        i === 0
          ? planHostportsIptables(NET, id, f, wantOf(i), empty)
          : [
              `:${dnatChainName(NET, id)} - [0:0]`,
              ...[...dnatRules(NET, id, f, wantOf(i)), ...entryRules(NET, id, f, wantOf(i))].map((r) => ruleLine('-A', r)),
            ],
      );
      const declared = lines.filter((l) => l.startsWith(':') || l.startsWith('-N'));
      const rules = lines.filter((l) => !declared.includes(l));
      node.exec(f === 4 ? 'iptables-restore' : 'ip6tables-restore', ['--noflush'], `*nat\n${[...declared, ...rules].join('\n')}\nCOMMIT\n`);
    }
  }

  it("our nf_tables transactions leave the text `nft list` prints for the nft path; a same re-ADD writes nothing; each path DELs the other's", async () => {
    const [viaDefault, viaNft] = [world.node(), world.node()];
    const id = `cnits-${uniqueName('pml')}`;
    const texts: string[] = [];
    for (const [node, env] of [
      [viaDefault, {}],
      [viaNft, NFT_PROCESS],
    ] as const) {
      // A hostIP of each family and one without, two protocols, then a second pod.
      const cfg = pmConfig('nftables', 0, {
        runtimeConfig: {
          portMappings: [
            { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
            { hostPort: 5353, containerPort: 53, protocol: 'udp' },
            { hostPort: 8443, containerPort: 443, protocol: 'sctp', hostIP: '10.92.0.1' },
            { hostPort: 9000, containerPort: 90, protocol: 'tcp', hostIP: 'fd92::1' },
          ],
        },
      });
      await pm(node, 'ADD', id, cfg, env);
      await pm(node, 'ADD', `${id}-2`, pmConfig('nftables', 1), env);
      const before = nftHostports(node);
      await pm(node, 'ADD', id, cfg, env); // the same again
      expect(nftHostports(node)).toEqual(before);
      await pm(node, 'CHECK', id, cfg, env);
      texts.push(`${nftText(node, 'ip', 'cni_hostport')}\n${nftText(node, 'ip6', 'cni_hostport')}`);
    }
    expect(texts[0]).toContain(`ip daddr 10.92.0.1 sctp dport 8443 dnat to 10.92.0.2:443 comment "${id}"`);
    expect(texts[0]).toContain(`ip6 daddr fd92::1 tcp dport 9000 dnat to [fd92::2]:90 comment "${id}"`);
    expect(texts[0]).toContain(`ip6 saddr fd92::/64 ip6 daddr fd92::2 masquerade comment "${id}"`);
    expect(texts[0]).toBe(texts[1]);

    // Cross DEL, without mappings or prevResult: each node's rules removed by the other path.
    for (const [node, env] of [
      [viaDefault, NFT_PROCESS],
      [viaNft, {}],
    ] as const) {
      for (const x of [id, `${id}-2`]) await pm(node, 'DEL', x, pmConfig('nftables'), env);
      expect(nftHostports(node).filter((l) => l.includes('comment'))).toEqual([]);
      expect(nftText(node, 'ip', 'cni_hostport')).toContain('fib daddr type local jump hostports_all');
    }
  });

  it('conditions (nft text) are written by the nft process, saying so; a later ADD without them puts the plain jump back', async () => {
    const node = world.node();
    const cfg = pmConfig('nftables', 0, { conditionsV4: ['ip daddr != 10.99.0.1'] });
    const r = await runPlugin({
      plugin: 'portmap',
      command: 'ADD',
      config: cfg,
      node,
      containerID: 'cnits-cond',
      netns: node.path,
      ifname: 'eth0',
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    if (BUILD === 'standalone') expect(r.stderr).toContain('using nft');
    expect(nftText(node, 'ip', 'cni_hostport')).toContain('ip daddr != 10.99.0.1 fib daddr type local jump hostports_all');
    await pm(node, 'CHECK', 'cnits-cond', cfg); // read over netlink in the standalone build: the condition is tolerated
    await pm(node, 'ADD', 'cnits-plain', pmConfig('nftables', 1));
    const text = nftText(node, 'ip', 'cni_hostport');
    expect(text).not.toContain('10.99.0.1');
    expect(text.match(/fib daddr type local jump hostports_all/g)).toHaveLength(2); // prerouting and output
  });

  it.skipIf(BUILD !== 'standalone')('standalone, nftables backend: portmap ADD, CHECK and DEL start no firewall process', async () => {
    const logged = loggingPath(world, ['conntrack', 'sysctl', 'ip']);
    const node = world.node();
    const env = logged.env;
    const cfg = pmConfig('nftables', 0, {
      runtimeConfig: {
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
          { hostPort: 5353, containerPort: 53, protocol: 'udp' }, // a UDP port: conntrack is flushed too
        ],
      },
    });
    for (const command of ['ADD', 'CHECK', 'ADD', 'DEL', 'DEL']) {
      const r = await runPlugin({
        plugin: 'portmap',
        command,
        config: cfg,
        node,
        containerID: 'cnits-np',
        netns: node.path,
        ifname: 'eth0',
        extraEnv: env,
      });
      expect(r.code, `${command}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stderr).not.toMatch(/using nft|running/);
    }
    // (The test's own `ip netns exec` that starts the plugin is logged too.)
    expect(logged.spawned().filter((l) => !l.startsWith('ip netns exec '))).toEqual([]);
    expect(nftHostports(node).filter((l) => l.includes('comment'))).toEqual([]);
  });

  it('iptables: with the shared chains in place an ADD is one restore per family and reads no table; so is a DEL, or none at all', async () => {
    const node = world.node();
    const logged = loggingPath(world);
    const call = (command: string, id: string, i?: number) => pm(node, command, id, pmConfig('iptables', i), logged.env);
    await call('ADD', 'cnits-first', 0); // a bare node: the table is read, the shared chains made
    expect(logged.spawned().filter((l) => l.includes('-save')).length).toBeGreaterThanOrEqual(2);
    await call('ADD', 'cnits-second', 1);
    expect(logged.spawned().sort()).toEqual(['ip6tables-restore -w 5 --noflush', 'iptables-restore -w 5 --noflush']);
    await call('ADD', 'cnits-second', 1); // the same again: -N fails, the table is read, nothing written twice
    expect(natBoth(node).filter(mineIn('iptables', 'cnits-second'))).toHaveLength(PER_POD.iptables);
    logged.spawned();
    await call('DEL', 'cnits-second');
    const del = logged.spawned();
    expect(del.filter((l) => l.includes('-save'))).toEqual([]);
    // The standalone build deletes iptables-nft's rules over netlink; the Node build lists one chain and restores.
    if (BUILD === 'standalone') expect(del).toEqual([]);
    else expect(del.filter((l) => l.includes('-restore'))).toHaveLength(2);
    await call('DEL', 'cnits-never-added');
    expect(logged.spawned().filter((l) => l.includes('-save') || l.includes('-restore'))).toEqual([]);
    expect(natBoth(node).filter(mineIn('iptables', 'cnits-second'))).toEqual([]);
    expect(natBoth(node).filter(mineIn('iptables', 'cnits-first'))).toHaveLength(PER_POD.iptables);
  });

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: a 250-pod node keeps every attachment's DNAT rules; one DEL removes its own and leaves the other 249 rule by rule`, async () => {
      const node = world.node();
      const bg = Array.from({ length: 248 }, (_, i) => `cnits-bg-${i}`);
      writeBackground(node, backend, bg);
      const [a, b] = [`cnits-${uniqueName('a')}`, `cnits-${uniqueName('b')}`];
      await pm(node, 'ADD', a, pmConfig(backend, 248));
      await pm(node, 'ADD', b, pmConfig(backend, 249));
      const before = snapshot(node, backend);
      const all = [...bg, a, b];
      for (const [i, id] of all.entries()) {
        const lines = before.filter(mineIn(backend, id));
        expect(lines.length, id).toBe(PER_POD[backend]);
        const dnat = backend === 'nftables' ? `dnat to ${podOf(i).v4}:80` : `--to-destination ${podOf(i).v4}:80`;
        expect(
          lines.filter((l) => l.includes(`dport ${podOf(i).hostPort} `) && l.includes(dnat)),
          id,
        ).toHaveLength(1);
      }
      await pm(node, 'CHECK', a, pmConfig(backend, 248));
      await pm(node, 'DEL', a, pmConfig(backend, 248));
      expect(snapshot(node, backend)).toEqual(before.filter((l) => !mineIn(backend, a)(l)));
      await pm(node, 'DEL', 'cnits-bg-117', pmConfig(backend)); // found by name only: no mappings, no prevResult
      expect(snapshot(node, backend)).toEqual(before.filter((l) => !mineIn(backend, a)(l) && !mineIn(backend, 'cnits-bg-117')(l)));
      await pm(node, 'CHECK', b, pmConfig(backend, 249));
    });
  }

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: 50 concurrent portmap ADDs and DELs on one table each land exactly once`, async () => {
      const node = world.node();
      const first = Array.from({ length: 25 }, (_, i) => ({ id: `cnits-${uniqueName('c')}`, i }));
      const second = Array.from({ length: 25 }, (_, i) => ({ id: `cnits-${uniqueName('d')}`, i: 25 + i }));
      // The first 25 include concurrent first ADDs on a bare node (the tables and shared chains made once).
      await Promise.all(first.map((p) => pm(node, 'ADD', p.id, pmConfig(backend, p.i))));
      await Promise.all([
        ...first.map((p) => pm(node, 'DEL', p.id, pmConfig(backend))),
        ...second.map((p) => pm(node, 'ADD', p.id, pmConfig(backend, p.i))),
      ]);
      const rules = snapshot(node, backend);
      for (const p of first) expect(rules.filter(mineIn(backend, p.id)), p.id).toEqual([]);
      for (const p of second) expect(rules.filter(mineIn(backend, p.id)), p.id).toHaveLength(PER_POD[backend]);
      const shared = rules.filter((l) => !second.some((p) => mineIn(backend, p.id)(l)));
      if (backend === 'nftables') {
        // Per family: hostports_all's two jumps, prerouting's and output's one.
        expect(shared).toHaveLength(8);
      } else {
        // Per family: the PREROUTING and OUTPUT jumps, POSTROUTING's, SETMARK's and MASQ's rule, and the three chains.
        expect(shared.filter((l) => l.includes('CNI-HOSTPORT'))).toHaveLength(16);
      }
      await Promise.all(second.map((p) => pm(node, 'DEL', p.id, pmConfig(backend))));
      expect(snapshot(node, backend).filter((l) => l.includes('comment "cnits-') || l.includes('CNI-DN-'))).toEqual([]);
    });
  }

  it('kill -9 during ADD leaves the transaction (both families) whole or absent, and DEL removes whatever is there', async () => {
    const node = world.node();
    const addMs = await (async () => {
      const t0 = Date.now();
      await pm(node, 'ADD', 'cnits-warm', pmConfig('nftables', 0));
      await pm(node, 'DEL', 'cnits-warm', pmConfig('nftables'));
      return Date.now() - t0;
    })();
    node.exec('nft', ['delete', 'table', 'ip', 'cni_hostport']); // half the kills land on a first ADD
    for (let i = 0; i < 16; i++) {
      const id = `cnits-${uniqueName('k')}`;
      const delay = (addMs / 2) * (i / 16);
      await new Promise<void>((resolve) => {
        const child = spawn('ip', ['netns', 'exec', node.name, `${PLUGIN_DIR}/portmap`], {
          env: {
            PATH: process.env.PATH,
            CNI_COMMAND: 'ADD',
            CNI_CONTAINERID: id,
            CNI_NETNS: node.path,
            CNI_IFNAME: 'eth0',
            CNI_PATH: PLUGIN_DIR,
          },
          stdio: ['pipe', 'ignore', 'ignore'],
        });
        child.stdin.end(JSON.stringify(pmConfig('nftables', i + 1)));
        setTimeout(() => child.kill('SIGKILL'), delay);
        child.on('close', () => resolve());
      });
      const rules = nftHostports(node);
      const mine = rules.filter(mineIn('nftables', id));
      expect([0, PER_POD.nftables], `rules after a kill at ${delay.toFixed(0)} ms`).toContain(mine.length);
      // The table, when there, is whole: its hook jumps once each.
      const v4 = nftText(node, 'ip', 'cni_hostport');
      if (v4) expect(v4.match(/fib daddr type local jump hostports_all|jump hostip_hostports/g)).toHaveLength(3);
      if (mine.length) expect(v4).toBeTruthy();
      await pm(node, 'DEL', id, pmConfig('nftables'));
      expect(nftHostports(node).filter(mineIn('nftables', id))).toEqual([]);
    }
  });

  it('kube-proxy-like chains and a user’s own nftables NAT table are never disturbed by portmap, either backend', async () => {
    const node = world.node();
    node.exec(
      'iptables-restore',
      ['--noflush'],
      [...kubeProxyNat([':KUBE-NODEPORTS - [0:0]'], ['-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS']), ''].join('\n'),
    );
    node.exec(
      'ip6tables-restore',
      ['--noflush'],
      ['*nat', ':KUBE-MARK-MASQ - [0:0]', '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000', 'COMMIT', ''].join('\n'),
    );
    node.exec(
      'nft',
      ['-f', '-'],
      [
        'table ip user_nat {',
        '  chain prerouting {',
        '    type nat hook prerouting priority -100; policy accept;',
        '    tcp dport 2222 dnat to 10.0.0.1:22 comment "ssh forward"',
        '  }',
        '  chain hostports {',
        '    tcp dport 20000 accept comment "not ours: same chain name, other table"',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const foreign = () => ({
      nat: natBoth(node).filter((l) => !l.includes('CNI-')),
      user: nftRulesWithHandles(node, 'ip', 'user_nat'),
    });
    const before = foreign();
    expect(before.user).toHaveLength(2);
    // One network; the backend chosen per pod, with the kube-proxy mark chain for the iptables ones.
    const pods = Array.from({ length: 4 }, (_, i) => ({
      id: `cnits-${uniqueName('f')}`,
      i,
      backend: i % 2 ? ('iptables' as const) : ('nftables' as const),
    }));
    const cfg = (p: (typeof pods)[number]) =>
      pmConfig(p.backend, p.i, p.backend === 'iptables' && p.i === 3 ? { externalSetMarkChain: 'KUBE-MARK-MASQ' } : {});
    for (const p of pods) await pm(node, 'ADD', p.id, cfg(p));
    expect(foreign()).toEqual(before);
    for (const p of pods) await pm(node, 'CHECK', p.id, cfg(p));
    for (const p of pods) await pm(node, 'DEL', p.id, pmConfig(p.backend));
    expect(foreign()).toEqual(before);
    expect(natBoth(node).filter((l) => l.includes('CNI-DN-'))).toEqual([]);
    expect(nftHostports(node).filter((l) => l.includes('comment'))).toEqual([]);
  });
});
