// Concurrency stress: 50 workers run ADD/DEL cycles at once, for several rounds, on one bridge
// network whose leases live in ONE data directory shared by our host-local (in-process in our
// bridge) and the reference host-local (/usr/lib/cni/host-local, exec'ed by our bridge through a
// CNI_PATH where host-local is a link to it). Configs are 1.0.0, the reference's newest version.
//
// While the workers run, a checker scans the lease files continuously: every pod whose ADD has
// returned and whose DEL has not started must own the lease of its address, and no two such pods
// may hold the same address. At the end nothing is left: no lease, no veth, no held lock.
//
// A second test runs containerd's pod network set-up 50 times at once: loopback, then bridge +
// portmap as a chain, each pod with a host port of its own (half the pods on the iptables backend,
// half on nftables), CHECK of the chain, then DEL; no error, and nothing left: no host-port chain
// or rule, no veth, no lease.
//
// Raise the load with CNI_TS_STRESS_ROUNDS (cycles per worker).
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { countFromEnv, leaseContents, leaseLikeFiles, lockIsFree, recordCounts } from '../helpers/fuzz.ts';
import {
  haveBuild,
  haveReference,
  isRoot,
  type Netns,
  PLUGIN_DIR,
  REFERENCE_DIR,
  runPlugin,
  uniqueName,
  World,
} from '../helpers/kernel.ts';
import { type Attachment, addNetworkList, type ConfList, checkNetworkList, delNetworkList, type Runtime } from '../helpers/libcni.ts';

const WORKERS = 50;
const ROUNDS = countFromEnv('STRESS_ROUNDS', 3);

let world: World;
afterEach(() => world?.cleanup());

describe.skipIf(!isRoot || !haveBuild || !haveReference)('concurrency stress', () => {
  it(`${WORKERS} workers × ${ROUNDS} ADD/DEL cycles on one network, our and the reference host-local on one data directory: never two pods on one ` +
    `address, nothing left`, async () => {
    world = new World();
    const node = world.node();
    const dataDir = world.tmpdir('cnits-stress-');
    const mixedDir = world.tmpdir('cnits-stress-bin-');
    symlinkSync(join(PLUGIN_DIR, 'bridge'), join(mixedDir, 'bridge'));
    symlinkSync(join(REFERENCE_DIR, 'host-local'), join(mixedDir, 'host-local'));
    const net = uniqueName('st');
    const config = {
      cniVersion: '1.0.0',
      name: net,
      type: 'bridge',
      bridge: uniqueName('br'),
      isGateway: true,
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.99.0.0/24' }]] },
    };
    const pods: Netns[] = Array.from({ length: WORKERS }, () => world.pod());

    /** address → container ID, for pods between "ADD returned" and "DEL started". */
    const live = new Map<string, string>();
    const violations: string[] = [];
    const counts = { adds: 0, dels: 0, byReference: 0, scans: 0, leaks: 0, doubleAllocations: 0 };
    let running = true;

    const checker = (async () => {
      while (running) {
        const leases = leaseContents(dataDir, net);
        // Snapshot `live` after reading the files: an entry added meanwhile had its lease before.
        for (const [address, id] of live) {
          const owner = leases.get(address);
          if (owner === undefined || !owner.startsWith(`${id}\r\n`)) {
            violations.push(`${address} held by live pod ${id} but its lease says ${JSON.stringify(owner)}`);
          }
        }
        counts.scans += 1;
        await sleep(50);
      }
    })();

    const worker = async (w: number) => {
      const pod = pods[w]!;
      const dir = w % 2 === 0 ? PLUGIN_DIR : mixedDir; // odd workers allocate with the reference host-local
      for (let round = 0; round < ROUNDS; round++) {
        const id = `stress-${net}-${w}-${round}`;
        const base = { plugin: 'bridge', node, containerID: id, netns: pod.path, ifname: 'eth0', path: dir, dir };
        const add = await runPlugin({ ...base, command: 'ADD', config });
        if (add.code !== 0 || !add.json?.ips?.length) {
          violations.push(`ADD ${id} failed (exit ${add.code}): ${add.stdout} ${add.stderr.slice(0, 300)}`);
          return;
        }
        counts.adds += 1;
        if (dir === mixedDir) counts.byReference += 1;
        const address = String(add.json.ips[0].address).split('/')[0]!;
        const other = live.get(address);
        if (other !== undefined) {
          counts.doubleAllocations += 1;
          violations.push(`${address} given to ${id} while ${other} holds it`);
        }
        live.set(address, id);
        const inPod = pod.addrs('eth0');
        if (!inPod.includes(`${address}/24`)) violations.push(`${id}: pod has ${inPod.join(',')}, result says ${address}`);

        live.delete(address);
        const del = await runPlugin({ ...base, command: 'DEL', config: { ...config, prevResult: add.json } });
        if (del.code !== 0) violations.push(`DEL ${id} failed: ${del.stdout} ${del.stderr.slice(0, 300)}`);
        counts.dels += 1;
      }
    };

    try {
      await Promise.all(pods.map((_, w) => worker(w)));
    } finally {
      running = false;
      await checker;
    }

    const left = [
      ...leaseLikeFiles(dataDir).map((f) => `lease ${f}`),
      ...node
        .links()
        .filter((l) => l.linkinfo?.info_kind === 'veth')
        .map((l) => `veth ${l.ifname}`),
      ...pods.flatMap((p) =>
        p
          .links()
          .filter((l) => l.ifname !== 'lo')
          .map((l) => `${p.name}: ${l.ifname}`),
      ),
      ...(lockIsFree(join(dataDir, net, 'lock')) ? [] : ['lock held']),
    ];
    counts.leaks = left.length;
    recordCounts('stress', counts);
    expect(violations).toEqual([]);
    expect(left).toEqual([]);
    expect(counts.adds).toBe(WORKERS * ROUNDS);
    expect(counts.byReference).toBe((WORKERS / 2) * ROUNDS);
    expect(counts.scans).toBeGreaterThan(1);
  }, 900_000);
});

describe.skipIf(!isRoot || !haveBuild)('concurrency stress: loopback + bridge + portmap', () => {
  it(`${WORKERS} workers × ${ROUNDS} pod set-ups (loopback, bridge + portmap chain with a host port, CHECK, DEL): no error, nothing left`, async () => {
    world = new World();
    const node = world.node();
    const dataDir = world.tmpdir('cnits-stress-pm-');
    const net = uniqueName('sp');
    const rt: Runtime = { node, path: [PLUGIN_DIR] };
    const list = (backend: string): ConfList => ({
      cniVersion: '1.0.0',
      name: net,
      plugins: [
        {
          type: 'bridge',
          bridge: 'cnistress0',
          isGateway: true,
          ipMasq: true,
          ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.97.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', backend, capabilities: { portMappings: true } },
      ],
    });
    const loopbackConfig = { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' };
    const pods: Netns[] = Array.from({ length: WORKERS }, () => world.pod());
    const failures: string[] = [];
    const counts = { adds: 0, dels: 0, checks: 0, leaks: 0, internalErrors: 0 };

    const worker = async (w: number) => {
      const pod = pods[w]!;
      const chain = list(w % 2 ? 'nftables' : 'iptables');
      for (let round = 0; round < ROUNDS; round++) {
        const att: Attachment = {
          containerID: `stress-${net}-${w}-${round}`,
          netns: pod.path,
          ifname: 'eth0',
          capabilityArgs: { portMappings: [{ hostPort: 20000 + w, containerPort: 80, protocol: w % 3 ? 'tcp' : 'udp' }] },
        };
        const lo = { plugin: 'loopback', node, containerID: att.containerID, netns: pod.path, ifname: 'lo' };
        try {
          const l = await runPlugin({ ...lo, command: 'ADD', config: loopbackConfig });
          if (l.code !== 0) throw new Error(`loopback ADD: ${l.stdout}`);
          const result = await addNetworkList(rt, chain, att);
          counts.adds += 1;
          await checkNetworkList(rt, chain, att, result);
          counts.checks += 1;
          await delNetworkList(rt, chain, att, result);
          const d = await runPlugin({ ...lo, command: 'DEL', config: loopbackConfig });
          if (d.code !== 0) throw new Error(`loopback DEL: ${d.stdout}`);
          counts.dels += 1;
        } catch (e) {
          const text = (e as Error).message;
          if (text.includes('"code": 999') || text.includes('"code":999')) counts.internalErrors += 1;
          failures.push(`${att.containerID}: ${text.slice(0, 600)}`);
          return;
        }
      }
    };
    await Promise.all(pods.map((_, w) => worker(w)));

    const nat = node.exec('iptables-save', ['-t', 'nat']) + node.exec('ip6tables-save', ['-t', 'nat']);
    const nft = node.tryExec('nft', ['list', 'ruleset']).stdout;
    const left = [
      ...nat.split('\n').filter((l) => /CNI-DN-|stress-/.test(l)),
      ...nft.split('\n').filter((l) => l.includes('stress-')),
      ...leaseLikeFiles(dataDir).map((f) => `lease ${f}`),
      ...node
        .links()
        .filter((l) => l.linkinfo?.info_kind === 'veth')
        .map((l) => `veth ${l.ifname}`),
    ];
    counts.leaks = left.length;
    recordCounts('stress portmap', counts);
    expect(failures).toEqual([]);
    expect(left).toEqual([]);
    expect(counts.adds).toBe(WORKERS * ROUNDS);
  }, 900_000);
});
