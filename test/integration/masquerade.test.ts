// Masquerade and MAC spoof check modules against the real kernel, inside throwaway node
// namespaces: the module functions run in a small bundled runner under `ip netns exec <node>`
// (Node cannot enter a namespace itself), and the tests read the result with iptables-save / nft
// inside the same namespace. Includes differential runs against the reference bridge plugin.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chainName } from '../../lib/firewall/masquerade-iptables.ts';
import { commentForInstance } from '../../lib/firewall/masquerade-nft.ts';
import { containerId, haveReference, isRoot, type Netns, REFERENCE_DIR, ROOT, runOk, uniqueName, World } from '../helpers/kernel.ts';

let runnerDir = '';
let runner = '';

interface Outcome {
  ok: boolean;
  value?: unknown;
  code?: number;
  msg?: string;
}

/** Call an exported function of lib/firewall/masquerade.ts or lib/firewall/spoofcheck.ts inside `node`. */
function call(node: Netns, fn: string, ...args: unknown[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', node.name, process.execPath, runner], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('close', () => {
      try {
        resolve(JSON.parse(Buffer.concat(out).toString()) as Outcome);
      } catch {
        reject(new Error(`runner output unparseable: ${Buffer.concat(out)} ${Buffer.concat(err)}`));
      }
    });
    child.stdin.end(JSON.stringify({ fn, args }));
  });
}

async function ok(node: Netns, fn: string, ...args: unknown[]): Promise<unknown> {
  const r = await call(node, fn, ...args);
  if (!r.ok) throw new Error(`${fn} failed: ${r.code} ${r.msg}`);
  return r.value;
}

/** `-A` lines of the nat table (comments and counters excluded by iptables-save itself). */
const natRules = (node: Netns, v6 = false): string[] =>
  node
    .exec(v6 ? 'ip6tables-save' : 'iptables-save', ['-t', 'nat'])
    .split('\n')
    .filter((l) => l.startsWith('-A ') || l.startsWith(':CNI-'));

const nftJson = (node: Netns, ...what: string[]): any[] => {
  const r = node.tryExec('nft', ['-j', 'list', ...what]);
  return r.code === 0 ? JSON.parse(r.stdout).nftables : [];
};
/** Rules of a table without handles, for comparing layouts made by different processes. */
const nftRules = (node: Netns, ...table: string[]) =>
  nftJson(node, 'table', ...table)
    .filter((o) => o.rule)
    .map(({ rule: { handle: _h, ...rest } }) => rest);

const canRun = isRoot;

describe.skipIf(!canRun)('masquerade and spoof check in a node namespace', () => {
  const world = new World();
  beforeAll(async () => {
    runnerDir = mkdtempSync(join(tmpdir(), 'cnits-nfrunner-'));
    runner = join(runnerDir, 'runner.cjs');
    await build({
      entryPoints: [join(ROOT, 'test/helpers/netfilter-runner.ts')],
      outfile: runner,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'warning',
    });
  });
  afterAll(() => rmSync(runnerDir, { recursive: true, force: true }));
  afterEach(() => world.cleanup());

  const target = (containerID: string, ips: string[], network = 'masqnet', ifname = 'eth0') => ({ network, containerID, ifname, ips });

  it('iptables backend: reference rules for both families, idempotent, checked, torn down without addresses', async () => {
    const node = world.node();
    const id = containerId();
    const t = target(id, ['10.66.0.5/24', 'fd66::5/64']);
    await ok(node, 'setupMasquerade', 'iptables', t);
    await ok(node, 'setupMasquerade', 'iptables', t); // re-ADD
    const chain = chainName('masqnet', id);
    const c = `-m comment --comment "name: \\"masqnet\\" id: \\"${id}\\""`;
    expect(natRules(node)).toEqual([
      `:${chain} - [0:0]`,
      `-A POSTROUTING -s 10.66.0.5/32 ${c} -j ${chain}`,
      `-A ${chain} -d 10.66.0.0/24 ${c} -j ACCEPT`,
      `-A ${chain} ! -d 224.0.0.0/4 ${c} -j MASQUERADE`,
    ]);
    expect(natRules(node, true)).toEqual([
      `:${chain} - [0:0]`,
      `-A POSTROUTING -s fd66::5/128 ${c} -j ${chain}`,
      `-A ${chain} -d fd66::/64 ${c} -j ACCEPT`,
      `-A ${chain} ! -d ff00::/8 ${c} -j MASQUERADE`,
    ]);
    await ok(node, 'checkMasquerade', 'iptables', t);

    node.exec('iptables', ['-w', '-t', 'nat', '-D', 'POSTROUTING', '1']);
    const broken = await call(node, 'checkMasquerade', 'iptables', t);
    expect(broken).toMatchObject({ ok: false, code: 130 });
    expect(broken.msg).toContain('POSTROUTING -s 10.66.0.5/32');

    await ok(node, 'teardownMasquerade', target(id, []));
    expect(natRules(node)).toEqual([]);
    expect(natRules(node, true)).toEqual([]);
    await ok(node, 'teardownMasquerade', target(id, [])); // nothing left: still fine
  });

  it('nftables backend: reference table layout, idempotent, checked, torn down by hash', async () => {
    const node = world.node();
    const id = containerId();
    const t = target(id, ['10.67.0.5/24', 'fd67::5/64']);
    await ok(node, 'setupMasquerade', 'nftables', t);
    await ok(node, 'setupMasquerade', 'nftables', t);
    const text = node.exec('nft', ['list', 'table', 'inet', 'cni_plugins_masquerade']);
    const comment = commentForInstance('masqnet', 'eth0', id);
    expect(text).toContain('comment "Masquerading for plugins from github.com/containernetworking/plugins"');
    expect(text).toContain('type nat hook postrouting priority srcnat; policy accept;');
    expect(text).toContain(`ip saddr 10.67.0.5 ip daddr != 10.67.0.0/24 masquerade comment "${comment}"`);
    expect(text).toContain(`ip6 saddr fd67::5 ip6 daddr != fd67::/64 masquerade comment "${comment}"`);
    expect(nftRules(node, 'inet', 'cni_plugins_masquerade').filter((r) => r.chain === 'masq_checks')).toHaveLength(2);
    expect(nftRules(node, 'inet', 'cni_plugins_masquerade').filter((r) => r.chain === 'postrouting')).toHaveLength(3);
    await ok(node, 'checkMasquerade', 'nftables', t);
    expect(await call(node, 'checkMasquerade', 'nftables', target(id, ['10.67.0.6/24']))).toMatchObject({ ok: false, code: 130 });

    await ok(node, 'teardownMasquerade', target(id, []));
    expect(nftRules(node, 'inet', 'cni_plugins_masquerade').filter((r) => r.chain === 'masq_checks')).toEqual([]);
    await ok(node, 'teardownMasquerade', target(id, []));
  });

  it('teardown removes both backends at once and succeeds on a bare namespace', async () => {
    const node = world.node();
    const id = containerId();
    await ok(node, 'teardownMasquerade', target(id, ['10.68.0.5/24'])); // nothing there at all
    await ok(node, 'setupMasquerade', 'iptables', target(id, ['10.68.0.5/24']));
    await ok(node, 'setupMasquerade', 'nftables', target(id, ['10.68.0.5/24']));
    await ok(node, 'teardownMasquerade', target(id, []));
    expect(natRules(node)).toEqual([]);
    expect(nftRules(node, 'inet', 'cni_plugins_masquerade').filter((r) => r.chain === 'masq_checks')).toEqual([]);
  });

  it('concurrent setups on one network each get their rules exactly once', async () => {
    const node = world.node();
    const ids = Array.from({ length: 6 }, () => containerId());
    await Promise.all(
      ids.flatMap((id, i) => [
        ok(node, 'setupMasquerade', 'iptables', target(id, [`10.69.0.${i + 2}/24`])),
        ok(node, 'setupMasquerade', 'nftables', target(id, [`10.69.0.${i + 2}/24`])),
      ]),
    );
    const rules = natRules(node);
    for (const [i, id] of ids.entries()) {
      expect(rules.filter((l) => l === `:${chainName('masqnet', id)} - [0:0]`)).toHaveLength(1);
      expect(rules.filter((l) => l.startsWith(`-A POSTROUTING -s 10.69.0.${i + 2}/32 `))).toHaveLength(1);
    }
    const masq = nftRules(node, 'inet', 'cni_plugins_masquerade').filter((r) => r.chain === 'masq_checks');
    expect(masq).toHaveLength(6);
    expect(nftRules(node, 'inet', 'cni_plugins_masquerade').filter((r) => r.chain === 'postrouting')).toHaveLength(3);
  });

  it('GC removes only this network’s stale attachments, in both backends', async () => {
    const node = world.node();
    const [keep, stale1, stale2, other] = [containerId(), containerId(), containerId(), containerId()];
    const add = async (id: string, ip: string, network = 'masqnet') => {
      await ok(node, 'setupMasquerade', 'iptables', target(id, [ip], network));
      await ok(node, 'setupMasquerade', 'nftables', target(id, [ip], network));
    };
    await add(keep, '10.70.0.2/24');
    await add(stale1, '10.70.0.3/24');
    await add(stale2, '10.70.0.4/24');
    await add(other, '10.71.0.2/24', 'othernet');
    await ok(node, 'gcMasquerade', 'masqnet', [{ containerID: keep, ifname: 'eth0' }]);

    const chains = natRules(node).filter((l) => l.startsWith(':CNI-'));
    expect(chains.sort()).toEqual([`:${chainName('masqnet', keep)} - [0:0]`, `:${chainName('othernet', other)} - [0:0]`].sort());
    const comments = nftRules(node, 'inet', 'cni_plugins_masquerade')
      .filter((r) => r.chain === 'masq_checks')
      .map((r) => r.comment);
    expect(comments.sort()).toEqual([commentForInstance('masqnet', 'eth0', keep), commentForInstance('othernet', 'eth0', other)].sort());
  });

  for (const backend of ['iptables', 'nftables'] as const) {
    it(`${backend}: pod traffic leaving its subnet really is masqueraded`, async () => {
      // pod (10.73.0.5) — node — outside (192.168.73.2); outside has no route back to 10.73.0.0/24,
      // so the pod's ping only comes back when the node rewrites its source address.
      const node = world.node();
      const pod = world.pod();
      const outside = world.netns('cnitso');
      const [np, pp, no, oo] = [uniqueName('np'), uniqueName('pp'), uniqueName('no'), uniqueName('oo')];
      node.ip('link', 'add', np, 'type', 'veth', 'peer', 'name', pp, 'netns', pod.name);
      node.ip('link', 'add', no, 'type', 'veth', 'peer', 'name', oo, 'netns', outside.name);
      node.ip('addr', 'add', '10.73.0.1/24', 'dev', np);
      node.ip('addr', 'add', '192.168.73.1/24', 'dev', no);
      node.ip('link', 'set', np, 'up');
      node.ip('link', 'set', no, 'up');
      node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      pod.ip('addr', 'add', '10.73.0.5/24', 'dev', pp);
      pod.ip('link', 'set', pp, 'up');
      pod.ip('route', 'add', 'default', 'via', '10.73.0.1');
      outside.ip('addr', 'add', '192.168.73.2/24', 'dev', oo);
      outside.ip('link', 'set', oo, 'up');

      expect(pod.ping('10.73.0.1')).toBe(true);
      expect(pod.ping('192.168.73.2')).toBe(false);
      const id = containerId();
      await ok(node, 'setupMasquerade', backend, target(id, ['10.73.0.5/24']));
      expect(pod.ping('192.168.73.2')).toBe(true);
      await ok(node, 'teardownMasquerade', target(id, []));
    });
  }

  it('chooses iptables here by default, and honours an explicit backend', async () => {
    const node = world.node();
    expect(await ok(node, 'chooseBackend')).toBe('iptables'); // Debian 12: iptables-nft and nft both installed
    expect(await ok(node, 'chooseBackend', 'nftables')).toBe('nftables');
  });

  it('spoof check: reference layout, idempotent re-setup, CHECK, teardown, GC keeps live veths', async () => {
    const node = world.node();
    const live = uniqueName('vl');
    node.ip('link', 'add', live, 'type', 'veth', 'peer', 'name', uniqueName('vp'));
    const [a, b] = [containerId(), containerId()];
    await ok(node, 'setupSpoofCheck', a, 'eth0', live, '02:AA:00:00:00:01');
    await ok(node, 'setupSpoofCheck', a, 'eth0', live, '02:aa:00:00:00:01'); // re-ADD
    await ok(node, 'setupSpoofCheck', b, 'eth0', 'vethgone0', '02:aa:00:00:00:02');
    const text = node.exec('nft', ['list', 'table', 'bridge', 'nat']);
    expect(text).toContain('type filter hook prerouting priority dstnat; policy accept;'); // -300 is printed as dstnat
    expect(text).toContain(`iifname "${live}" jump cni-br-iface-${a}-eth0 comment "macspoofchk-${a}-eth0"`);
    expect(text).toContain(`ether saddr 02:aa:00:00:00:01 return comment "macspoofchk-${a}-eth0"`);
    expect(nftRules(node, 'bridge', 'nat').filter((r) => r.comment === `macspoofchk-${a}-eth0`)).toHaveLength(4);
    await ok(node, 'checkSpoofCheck', a, 'eth0', live, '02:aa:00:00:00:01');
    expect(await call(node, 'checkSpoofCheck', a, 'eth0', live, '02:aa:00:00:00:09')).toMatchObject({ ok: false, code: 130 });

    await ok(node, 'gcSpoofCheck', []); // a's veth exists (maybe another network's pod): kept; b's is gone
    const chains = nftJson(node, 'table', 'bridge', 'nat')
      .filter((o) => o.chain)
      .map((o) => o.chain.name);
    expect(chains.sort()).toEqual(['PREROUTING', `cni-br-iface-${a}-eth0`, `cni-br-iface-${a}-eth0-mac`].sort());

    await ok(node, 'teardownSpoofCheck', a, 'eth0');
    await ok(node, 'teardownSpoofCheck', a, 'eth0');
    expect(nftRules(node, 'bridge', 'nat')).toEqual([]);
  });

  it('spoof check: concurrent setups of different attachments all land, once each', async () => {
    const node = world.node();
    const ids = Array.from({ length: 5 }, () => containerId());
    await Promise.all(ids.map((id, i) => ok(node, 'setupSpoofCheck', id, 'eth0', `vethc${i}`, `02:bb:00:00:00:0${i}`)));
    const rules = nftRules(node, 'bridge', 'nat');
    for (const id of ids) expect(rules.filter((r) => r.comment === `macspoofchk-${id}-eth0`)).toHaveLength(4);
    expect(rules.filter((r) => r.chain === 'PREROUTING')).toHaveLength(5);
  });

  describe.skipIf(!haveReference)('differential against the reference bridge (iptables backend, spoof check)', () => {
    it('reference ADD → our CHECK passes, our teardown removes it all; our setup recreates it → reference DEL removes ours', async () => {
      const node = world.node();
      const pod = world.pod();
      const id = containerId();
      const network = 'refnet';
      const config = {
        cniVersion: '1.0.0',
        name: network,
        type: 'bridge',
        bridge: uniqueName('br'),
        isGateway: true,
        ipMasq: true,
        macspoofchk: true,
        ipam: { type: 'host-local', dataDir: world.tmpdir(), ranges: [[{ subnet: '10.72.0.0/24' }], [{ subnet: 'fd72::/64' }]] },
      };
      const run = (command: string) =>
        runOk({
          plugin: 'bridge',
          dir: REFERENCE_DIR,
          path: REFERENCE_DIR,
          command,
          config,
          node,
          containerID: id,
          netns: pod.path,
          ifname: 'eth0',
        });
      const result = await run('ADD');
      const ips: string[] = result.ips.map((i: any) => i.address);
      const hostVeth: string = result.interfaces[1].name;
      const mac: string = result.interfaces[2].mac;
      const t = target(id, ips, network);

      const refV4 = natRules(node);
      const refV6 = natRules(node, true);
      const refSpoof = nftRules(node, 'bridge', 'nat');
      expect(refV4.filter((l) => l.includes(chainName(network, id)))).toHaveLength(4);
      expect(refSpoof).toHaveLength(4);

      await ok(node, 'checkMasquerade', 'iptables', t);
      await ok(node, 'checkSpoofCheck', id, 'eth0', hostVeth, mac);
      await ok(node, 'setupMasquerade', 'iptables', t); // recognises the reference's rules: adds nothing
      expect(natRules(node)).toEqual(refV4);

      await ok(node, 'teardownMasquerade', target(id, [], network)); // no addresses needed
      await ok(node, 'teardownSpoofCheck', id, 'eth0');
      expect(natRules(node)).toEqual([]);
      expect(natRules(node, true)).toEqual([]);
      expect(nftRules(node, 'bridge', 'nat')).toEqual([]);

      await ok(node, 'setupMasquerade', 'iptables', t);
      await ok(node, 'setupSpoofCheck', id, 'eth0', hostVeth, mac);
      expect(natRules(node)).toEqual(refV4);
      expect(natRules(node, true)).toEqual(refV6);
      expect(nftRules(node, 'bridge', 'nat')).toEqual(refSpoof);

      await run('DEL');
      expect(natRules(node)).toEqual([]);
      expect(natRules(node, true)).toEqual([]);
      expect(nftRules(node, 'bridge', 'nat')).toEqual([]);
      const chains = nftJson(node, 'table', 'bridge', 'nat')
        .filter((o) => o.chain)
        .map((o) => o.chain.name);
      expect(chains).toEqual(['PREROUTING']);
    });
  });
});
