// Mutation fuzzing of the built executables, run as a runtime runs them (environment + stdin,
// inside a throwaway node namespace), for bridge, ptp (reference and routed mode), host-local,
// portmap and loopback.
//
// Every failed run must print exactly one well-formed error document with a documented code and
// exit non-zero, with no stack trace, and leave the node namespace's links, addresses, routes and
// firewall rules and the data directory exactly as they were (the network's directory and lock
// file are infrastructure, like the bridge, and may appear). A mutated input that happens to be
// valid may succeed: then DEL must remove everything it made (no veth, no lease, no rule).
//
// Reproduce with CNI_TS_FUZZ_SEED=<seed printed>; raise the count with CNI_TS_FUZZ_RUNS (per plugin).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  countFromEnv,
  errorDocumentProblems,
  type FuzzContext,
  firewallSnapshot,
  fuzzCase,
  kernelSnapshot,
  leaseLikeFiles,
  nodeWithUplink,
  Rand,
  recordCounts,
  runRaw,
  seedFromEnv,
  textDiff,
  treeDiff,
  treeSnapshot,
} from '../helpers/fuzz.ts';
import { containerId, haveBuild, isRoot, type Netns, PLUGIN_DIR, runOk, uniqueName, World } from '../helpers/kernel.ts';

const RUNS = countFromEnv('FUZZ_RUNS', 60);
const seed = seedFromEnv();

let world: World;
afterEach(() => world?.cleanup());

interface Target {
  plugin: string;
  label: string;
  config: (net: string, dataDir: string, bridge: string) => Record<string, unknown>;
}

const ipam = (dataDir: string) => ({ type: 'host-local', dataDir, ranges: [[{ subnet: '10.77.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] });
const TARGETS: Target[] = [
  {
    plugin: 'bridge',
    label: 'bridge',
    config: (name, d, bridge) => ({
      cniVersion: '1.1.0',
      name,
      type: 'bridge',
      bridge,
      isGateway: true,
      ipMasq: true,
      macspoofchk: true,
      ipam: ipam(d),
    }),
  },
  {
    plugin: 'ptp',
    label: 'ptp',
    config: (name, d) => ({ cniVersion: '1.0.0', name, type: 'ptp', ipMasq: true, mtu: 1400, ipam: ipam(d) }),
  },
  {
    plugin: 'ptp',
    label: 'ptp routed',
    config: (name, d) => ({ cniVersion: '1.1.0', name, type: 'ptp', proxyArp: true, ipMasq: true, ipam: ipam(d) }),
  },
  { plugin: 'host-local', label: 'host-local', config: (name, d) => ({ cniVersion: '0.4.0', name, type: 'host-local', ipam: ipam(d) }) },
  {
    plugin: 'portmap',
    label: 'portmap',
    // Dual stack, so the warm-up run makes both families' shared chains (infrastructure, never removed).
    config: (name) => ({
      cniVersion: '1.1.0',
      name,
      type: 'portmap',
      capabilities: { portMappings: true },
      runtimeConfig: {
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
          { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '192.0.2.1' },
        ],
      },
      prevResult: {
        cniVersion: '1.1.0',
        interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/pod' }],
        ips: [
          { address: '10.77.0.5/24', interface: 0 },
          { address: 'fd00:77::5/64', interface: 0 },
        ],
      },
    }),
  },
  { plugin: 'loopback', label: 'loopback', config: (name) => ({ cniVersion: '1.0.0', name, type: 'loopback' }) },
];

/** Infrastructure a failed ADD may legitimately leave: the network directory, its lock, round-robin marker. */
/** host-local's own files, which any command may create or rewrite: the lock, the round-robin marker, the lease index. */
const infrastructure = (line: string) =>
  /^\+ [^:]*(?:: dir |\/lock: |\/last_reserved_ip\.\d+: |\/\.cni-ts\/index: )/.test(line) ||
  /^~ [^:]*\/(?:last_reserved_ip\.\d+|\.cni-ts\/index): /.test(line) ||
  /^- [^:]*\/\.cni-ts\/index: /.test(line);

const onlyLo = (pod: Netns) => pod.links().map((l) => l.ifname);

describe.skipIf(!isRoot || !haveBuild)('fuzzing the built plugins (process runs inside a node namespace)', () => {
  for (const [t, target] of TARGETS.entries()) {
    it(`${target.label}: ${RUNS} mutated runs, each an error document with no kernel or disk change, or a success that DEL undoes`, async () => {
      world = new World();
      const node = nodeWithUplink(world);
      const pod = world.pod();
      const sandbox = world.tmpdir('cnits-fuzz-');
      const dataDir = join(sandbox, 'data');
      const regularFile = join(sandbox, 'not-a-netns');
      writeFileSync(regularFile, 'x');
      const net = uniqueName('fz');
      const bridge = uniqueName('br');
      const config = target.config(net, dataDir, bridge);
      const exe = join(PLUGIN_DIR, target.plugin);

      // A valid ADD + DEL first, so shared infrastructure (the bridge and its gateway address,
      // forwarding, the masquerade backend's base table) is part of the baseline.
      const warm = { plugin: target.plugin, node, config, containerID: containerId(), netns: pod.path, ifname: 'eth0' };
      const res = await runOk({ ...warm, command: 'ADD' });
      await runOk({ ...warm, command: 'DEL', config: { ...config, prevResult: res } });
      expect(onlyLo(pod)).toEqual(['lo']);

      let kernel = kernelSnapshot(node);
      let tree = treeSnapshot(sandbox);
      const firewall = firewallSnapshot(node);
      const r = new Rand(seed + t);
      const counts = { runs: 0, successes: 0, addSuccesses: 0, internalErrors: 0, leaks: 0 };
      const internal: string[] = [];

      for (let i = 0; i < RUNS; i++) {
        const ctx: FuzzContext = {
          env: {
            CNI_COMMAND: r.pick(['ADD', 'ADD', 'DEL', 'CHECK', 'GC', 'STATUS']),
            CNI_CONTAINERID: containerId(),
            CNI_NETNS: pod.path,
            CNI_IFNAME: 'eth0',
            CNI_ARGS: '',
            CNI_PATH: PLUGIN_DIR,
          },
          netns: { ok: pod.path, own: node.path, regularFile, missing: join(sandbox, 'gone-netns') },
          sandbox,
          nulInEnv: false,
          huge: i % 20 === 7,
        };
        const c = fuzzCase(r, config, ctx);
        const where = `seed ${seed + t} run ${i} (${target.label}): ${c.notes.map((n) => n.slice(0, 160)).join(' | ')}`;
        const out = await runRaw(node, exe, c.env, c.stdin, sandbox);
        counts.runs += 1;

        if (out.code === 0) {
          counts.successes += 1;
          if (c.env.CNI_COMMAND === 'ADD') {
            counts.addSuccesses += 1;
            // A valid mutation: the result is a JSON object; DEL with the same input removes everything.
            expect(typeof JSON.parse(out.stdout), where).toBe('object');
            const del = await runRaw(node, exe, { ...c.env, CNI_COMMAND: 'DEL' }, c.stdin, sandbox);
            expect(del.code, `${where}\nDEL: ${del.stdout} ${del.stderr}`).toBe(0);
            const leftovers = [
              ...node
                .links()
                .filter((l) => l.linkinfo?.info_kind === 'veth')
                .map((l) => `veth ${l.ifname}`),
              ...(c.env.CNI_NETNS === pod.path
                ? onlyLo(pod)
                    .filter((n) => n !== 'lo')
                    .map((n) => `pod link ${n}`)
                : []),
              ...leaseLikeFiles(sandbox).map((f) => `lease ${f}`),
              ...(firewallSnapshot(node) === firewall ? [] : [`firewall:\n${textDiff(firewall, firewallSnapshot(node))}`]),
            ];
            if (leftovers.length) counts.leaks += 1;
            expect(leftovers, where).toEqual([]);
            // A mutated bridge name or subnet may have added a bridge: new baseline.
            kernel = kernelSnapshot(node);
            tree = treeSnapshot(sandbox);
          } else if (c.env.CNI_COMMAND !== 'VERSION') {
            expect(out.stdout, where).toBe('');
          }
          continue;
        }

        expect(
          errorDocumentProblems(out.stdout, out.code),
          `${where}\nexit ${out.code} ${out.signal ?? ''} stdout: ${out.stdout.slice(0, 300)} stderr: ${out.stderr.slice(0, 500)}`,
        ).toEqual([]);
        const code = JSON.parse(out.stdout).code;
        if (code === 999) {
          counts.internalErrors += 1;
          internal.push(`${where} → ${out.stdout.slice(0, 300)}`);
        }
        const kernelDiff = textDiff(kernel, kernelSnapshot(node));
        const diskDiff = treeDiff(tree, treeSnapshot(sandbox))
          .split('\n')
          .filter((l) => l && !infrastructure(l))
          .join('\n');
        if (kernelDiff || diskDiff) counts.leaks += 1;
        expect(kernelDiff, `${where}\n${out.stdout}`).toBe('');
        expect(diskDiff, `${where}\n${out.stdout}`).toBe('');
        tree = treeSnapshot(sandbox);
      }
      recordCounts(`fuzz ${target.label}`, counts);
      expect(internal, `seed ${seed + t}`).toEqual([]);
      // The fuzzer must get past validation sometimes, or it proves little.
      expect(counts.runs).toBe(RUNS);
    }, 600_000);
  }
});
