// Masquerade and spoof check at node scale, through the built bridge plugin in a node namespace:
// the nf_tables netlink path of the standalone build against nft's own (same text in `nft list`,
// and either one's DEL removes what the other made), a 250-pod node where one DEL touches nothing
// but its own rules, 50 concurrent ADDs/DELs on one table, kill -9 during ADD leaving each
// transaction whole or absent, and a ruleset that kube-proxy-like chains and a user's own table
// share with us, which no call ever changes. Runs against either build (CNI_TS_BUILD).
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chainName } from '../../lib/firewall/masquerade-iptables.ts';
import { commentForInstance } from '../../lib/firewall/masquerade-nft.ts';
import { setupScript } from '../../lib/firewall/masquerade-setup.ts';
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

const canRun = isRoot && haveBuild;

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
      const dir = world.tmpdir('cnits-fwpath-');
      const log = join(dir, 'spawned.log');
      writeFileSync(log, '');
      // The iptables commands are links to one logging xtables-nft-multi, as on the host, so the
      // plugin still recognises iptables-nft (whose rules it may then remove over netlink).
      const realPath = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
      const multi = join(dir, 'xtables-nft-multi');
      writeFileSync(multi, `#!/bin/sh\ncmd=$(basename "$0")\necho "$cmd $*" >> ${log}\nPATH=${realPath} exec "$cmd" "$@"\n`);
      chmodSync(multi, 0o755);
      for (const cmd of ['iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore', 'ip6tables-restore']) {
        symlinkSync(multi, join(dir, cmd));
      }
      const nft = sh('sh', ['-c', 'command -v nft']).trim();
      writeFileSync(join(dir, 'nft'), `#!/bin/sh\necho "nft $*" >> ${log}\nexec ${nft} "$@"\n`);
      chmodSync(join(dir, 'nft'), 0o755);
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
        extraEnv: { PATH: `${dir}:${process.env.PATH}` },
      };
      const add = await runPlugin({ ...base, command: 'ADD', config: cfg });
      expect(add.code, add.stdout + add.stderr).toBe(0);
      const check = await runPlugin({ ...base, command: 'CHECK', config: { ...cfg, prevResult: add.json } });
      expect(check.code, check.stdout + check.stderr).toBe(0);
      const del = await runPlugin({ ...base, command: 'DEL', config: { ...cfg, prevResult: add.json } });
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(readFileSync(log, 'utf8')).toBe('');
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
        '*nat',
        ':KUBE-SERVICES - [0:0]',
        ':KUBE-POSTROUTING - [0:0]',
        ':KUBE-MARK-MASQ - [0:0]',
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
        '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
        '-A KUBE-POSTROUTING -j MASQUERADE --random-fully',
        'COMMIT',
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
