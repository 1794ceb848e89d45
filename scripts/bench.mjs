#!/usr/bin/env node
// `npm run bench`: our two builds side by side with Debian's reference plugins.
//
//   node scripts/bench.mjs [--iterations 30] [--concurrency 20] [--rounds 3] [--no-build] [--quick]
//
// Everything runs inside throwaway network namespaces: a node namespace (the driver re-executes
// itself inside it with `nsenter --net`, so plugins are spawned directly, with no `ip netns exec`
// wrapper adding its own cost) and a fresh pod namespace per attachment; all are deleted at the
// end, also on failure or Ctrl-C. Needs root.
//
// For each scenario (bridge+host-local, ptp+host-local, ptp routed+host-local, host-local alone,
// loopback, and containerd's default chain — bridge with ipMasq + portmap — with and without a
// host port) and each build (reference /usr/lib/cni, our Node bundle dist/, our standalone dist/bin/):
//   - ADD and DEL wall time over N iterations: median, p90, p99 (a chain: the sum of its plugins' runs);
//   - wall time of C concurrent ADDs and then of C concurrent DELs (median of R rounds);
//   - peak RSS of one ADD (GNU time's max RSS, which includes a delegated IPAM child);
// plus STATUS latency (ours: 1.1.0 STATUS; the reference has no STATUS — its plugins stop at
// CNI 1.0.0 — so its VERSION, the cheapest call it has, stands in), VERSION start-up of each
// build, and `node -e 0` and /bin/true for context. Runs are interleaved (reference, bundle,
// standalone, reference, …) so machine drift cancels; ratios are ours / reference.
// Prints a markdown table and writes .bench/latest.json and .bench/latest.md (git-ignored).
//
// Scenario "scale" (`--only scale` runs it alone): containerd's default chain (bridge with
// isGateway + ipMasq, then portmap when it is built; with and without one host port per pod) with
// 0, 100 and 250 pods already attached to the node, for each firewall backend, each backend and
// each size on a node namespace of its own. ADD and DEL of one more pod are timed, interleaved
// across builds, and the sizes in rounds (every round visits every size, so a shared machine's
// drifting load does not pass for growth); our growth (250 pods vs 0) is printed. The background
// pods are made by our standalone build (the layout is the reference's, so every build sees the
// same node), several at a time.
//   --scale-sizes 0,100,250  --scale-iterations 10  --scale-round 5  --scale-backends iptables,nftables
//   --scale-builds reference,standalone,bundle
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const num = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const QUICK = flag('--quick');
const N = num('--iterations', QUICK ? 5 : 30);
const C = num('--concurrency', QUICK ? 5 : 20);
const R = num('--rounds', QUICK ? 1 : 3);

export const BUILDS = {
  reference: '/usr/lib/cni',
  bundle: join(ROOT, 'dist'),
  standalone: join(ROOT, 'dist', 'bin'),
};

// ---------------------------------------------------------------------------------------------
// statistics

export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
export function summarize(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, median: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), min: s[0], max: s[s.length - 1] };
}

// ---------------------------------------------------------------------------------------------
// outer: create the node namespace, run the inner driver inside it, always clean up

function sh(file, args, opts = {}) {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

async function outer() {
  if (process.getuid?.() !== 0) {
    console.error('bench: needs root (it creates network namespaces)');
    process.exit(1);
  }
  if (!existsSync(join(BUILDS.reference, 'bridge'))) {
    console.error(`bench: the reference plugins are missing in ${BUILDS.reference} (apt-get install containernetworking-plugins)`);
    process.exit(1);
  }
  if (!flag('--no-build')) {
    sh(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: 'inherit' });
    sh(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--standalone'], { stdio: 'inherit' });
  }
  const tag = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  const node = `cnitsb${tag}`.slice(0, 15);
  const work = mkdtempSync(join(tmpdir(), 'cnits-bench-'));
  sh('ip', ['netns', 'add', node]);
  let child;
  const cleanup = () => {
    // Pod namespaces are named after the node; delete whatever the inner driver left.
    for (const ns of sh('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0])) {
      if (ns?.startsWith(`cnitsp${tag}`)) spawnSync('ip', ['netns', 'del', ns]);
    }
    spawnSync('ip', ['netns', 'del', node]);
    rmSync(work, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      child?.kill(sig);
      cleanup();
      process.exit(130);
    });
  }
  try {
    sh('ip', ['-n', node, 'link', 'set', 'lo', 'up']);
    const code = await new Promise((resolve) => {
      child = spawn('nsenter', [`--net=/run/netns/${node}`, '--', process.execPath, fileURLToPath(import.meta.url), '--inner', ...argv], {
        stdio: 'inherit',
        env: { ...process.env, CNI_TS_BENCH_TAG: tag, CNI_TS_BENCH_WORK: work },
      });
      child.on('close', (c) => resolve(c ?? 1));
    });
    process.exitCode = code;
  } finally {
    cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// inner: runs inside the node namespace

const TAG = process.env.CNI_TS_BENCH_TAG ?? 'x';
const WORK = process.env.CNI_TS_BENCH_WORK ?? tmpdir();
let podCounter = 0;

function newPod() {
  podCounter += 1;
  const name = `cnitsp${TAG}${process.env.CNI_TS_BENCH_POD_INFIX ?? ''}${podCounter.toString(36)}`;
  sh('ip', ['netns', 'add', name]);
  return name;
}
function delPod(name) {
  spawnSync('ip', ['netns', 'del', name]);
}

/** Run one plugin invocation; resolves with { ms, code, stdout }. */
function invoke(dir, plugin, command, config, pod, containerID, wrap = []) {
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerID,
    CNI_NETNS: pod ? `/run/netns/${pod}` : '',
    CNI_IFNAME: 'eth0',
    CNI_PATH: dir,
  };
  const file = join(dir, plugin);
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(wrap[0] ?? file, wrap.length ? [...wrap.slice(1), file] : [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(config));
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, stdout, stderr }));
  });
}

/** Run a plugin chain as libcni does: ADD in order, each given the previous result; DEL in reverse. */
async function invokeChain(dir, chain, command, pod, containerID) {
  let ms = 0;
  let prev;
  const order = command === 'DEL' ? [...chain.plugins].reverse() : chain.plugins;
  for (const plugin of order) {
    const cfg = { cniVersion: chain.cniVersion, name: chain.name, ...plugin.config };
    if (command === 'DEL' ? chain.lastResult?.[containerID] : prev)
      cfg.prevResult = command === 'DEL' ? chain.lastResult[containerID] : prev;
    const r = await invoke(dir, plugin.type, command, cfg, pod, containerID);
    ms += r.ms;
    if (r.code !== 0) return { ms, code: r.code, stdout: r.stdout, stderr: `${plugin.type}: ${r.stderr}` };
    if (command === 'ADD') prev = JSON.parse(r.stdout);
  }
  if (command === 'ADD') (chain.lastResult ??= {})[containerID] = prev;
  else delete chain.lastResult?.[containerID];
  return { ms, code: 0, stdout: '', stderr: '' };
}

async function must(p, what) {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stdout}${r.stderr}`);
  return r;
}

/** Scenario configs; `slot` keeps each build's bridge, subnet and dataDir apart. */
export function scenarios(dataRoot) {
  const ipam = (slot, sub) => ({
    type: 'host-local',
    dataDir: join(dataRoot, `${sub}-${slot}`),
    ranges: [[{ subnet: `10.${100 + slot * 10 + sub}.0.0/16` }]],
    routes: [{ dst: '0.0.0.0/0' }],
  });
  return [
    {
      id: 'bridge',
      label: 'bridge + host-local',
      plugin: 'bridge',
      builds: ['reference', 'bundle', 'standalone'],
      config: (slot) => ({
        cniVersion: '1.0.0',
        name: `bench-bridge-${slot}`,
        type: 'bridge',
        bridge: `cnibr${slot}`,
        isGateway: true,
        ipam: ipam(slot, 1),
      }),
    },
    {
      id: 'ptp',
      label: 'ptp + host-local',
      plugin: 'ptp',
      builds: ['reference', 'bundle', 'standalone'],
      config: (slot) => ({ cniVersion: '1.0.0', name: `bench-ptp-${slot}`, type: 'ptp', ipam: ipam(slot, 2) }),
    },
    {
      id: 'ptp-routed',
      label: 'ptp routed (proxyArp) + host-local',
      plugin: 'ptp',
      // The reference has no routed mode: its plain ptp is the closest comparison.
      builds: ['reference', 'bundle', 'standalone'],
      config: (slot, build) => ({
        cniVersion: '1.0.0',
        name: `bench-routed-${slot}`,
        type: 'ptp',
        ...(build === 'reference' ? {} : { proxyArp: true }),
        ipam: ipam(slot, 3),
      }),
    },
    {
      id: 'host-local',
      label: 'host-local alone',
      plugin: 'host-local',
      builds: ['reference', 'bundle', 'standalone'],
      config: (slot) => ({ cniVersion: '1.0.0', name: `bench-hl-${slot}`, ipam: ipam(slot, 4) }),
    },
    {
      id: 'loopback',
      label: 'loopback',
      plugin: 'loopback',
      builds: ['reference', 'bundle', 'standalone'],
      config: () => ({ cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' }),
    },
    // containerd's default network (conflist/10-containerd-bridge.conflist): bridge with ipMasq,
    // then portmap, run as libcni runs a chain (prevResult forward on ADD, DEL in reverse).
    ...[
      { id: 'chain-hostport', label: 'containerd chain (bridge ipMasq + portmap), one host port', sub: 5, hostPort: true },
      { id: 'chain', label: 'containerd chain (bridge ipMasq + portmap), no host port', sub: 6, hostPort: false },
    ].map((c) => ({
      id: c.id,
      label: c.label,
      plugin: 'bridge',
      builds: ['reference', 'bundle', 'standalone'],
      config: (slot) => ({
        cniVersion: '1.0.0',
        name: `bench-${c.id}-${slot}`,
        type: 'bridge',
        bridge: `cni${c.sub}br${slot}`,
        isGateway: true,
        ipMasq: true,
        promiscMode: true,
        ipam: { ...ipam(slot, c.sub), routes: [{ dst: '0.0.0.0/0' }] },
      }),
      next: (slot) => [
        {
          plugin: 'portmap',
          config: {
            cniVersion: '1.0.0',
            name: `bench-${c.id}-${slot}`,
            type: 'portmap',
            capabilities: { portMappings: true },
            ...(c.hostPort ? { runtimeConfig: { portMappings: [{ hostPort: 8080 + slot, containerPort: 80, protocol: 'tcp' }] } } : {}),
          },
        },
      ],
    })),
  ];
}

/** The plugins a scenario runs, in ADD order. */
const stepsOf = (sc, slot, build) => [{ plugin: sc.plugin, config: sc.config(slot, build) }, ...(sc.next?.(slot, build) ?? [])];

/**
 * ADD of every step in order, each given the previous result as prevResult; resolves with the
 * wall time of the whole chain and the final result (what a runtime caches for DEL).
 */
async function chainAdd(dir, steps, pod, id, what) {
  let ms = 0;
  let prev;
  for (const step of steps) {
    const r = await must(invoke(dir, step.plugin, 'ADD', prev ? { ...step.config, prevResult: prev } : step.config, pod, id), what);
    ms += r.ms;
    prev = steps.length > 1 ? JSON.parse(r.stdout) : undefined;
  }
  return { ms, result: prev };
}

/** DEL of every step in reverse order, with the cached result as prevResult (chains only, as libcni does from 0.4.0). */
async function chainDel(dir, steps, pod, id, result, what) {
  let ms = 0;
  for (const step of [...steps].reverse()) {
    const r = await must(invoke(dir, step.plugin, 'DEL', result ? { ...step.config, prevResult: result } : step.config, pod, id), what);
    ms += r.ms;
  }
  return { ms };
}

const BUILD_NAMES = Object.keys(BUILDS);
const slotOf = (build) => BUILD_NAMES.indexOf(build);
/** Interleaving order for iteration i: rotate so no build always goes first. */
const rotated = (list, i) => list.map((_, k) => list[(k + i) % list.length]);

async function sequential(sc, results) {
  for (let i = 0; i < N; i++) {
    for (const build of rotated(sc.builds, i)) {
      const pod = newPod();
      const id = `bench-${sc.id}-${build}-${i}`;
      const steps = stepsOf(sc, slotOf(build), build);
      try {
        const add = await chainAdd(BUILDS[build], steps, pod, id, `${build} ${sc.id} ADD`);
        const del = await chainDel(BUILDS[build], steps, pod, id, add.result, `${build} ${sc.id} DEL`);
        (results[build].add ??= []).push(add.ms);
        (results[build].del ??= []).push(del.ms);
      } finally {
        delPod(pod);
      }
    }
  }
}

async function concurrent(sc, results) {
  for (let round = 0; round < R; round++) {
    for (const build of rotated(sc.builds, round)) {
      const steps = stepsOf(sc, slotOf(build), build);
      const pods = Array.from({ length: C }, () => newPod());
      const ids = pods.map((_, k) => `bench-c-${sc.id}-${build}-${round}-${k}`);
      try {
        let t0 = process.hrtime.bigint();
        const added = await Promise.all(
          pods.map((pod, k) => chainAdd(BUILDS[build], steps, pod, ids[k], `${build} ${sc.id} concurrent ADD`)),
        );
        (results[build].cadd ??= []).push(Number(process.hrtime.bigint() - t0) / 1e6);
        t0 = process.hrtime.bigint();
        await Promise.all(
          pods.map((pod, k) => chainDel(BUILDS[build], steps, pod, ids[k], added[k].result, `${build} ${sc.id} concurrent DEL`)),
        );
        (results[build].cdel ??= []).push(Number(process.hrtime.bigint() - t0) / 1e6);
      } finally {
        pods.forEach(delPod);
      }
    }
  }
}

/** Peak RSS of one plugin's ADD (single-plugin scenarios: a chain is several processes). */
async function peakRss(sc, results) {
  if (!existsSync('/usr/bin/time') || sc.next) return;
  for (const build of sc.builds) {
    const pod = newPod();
    const id = `bench-rss-${sc.id}-${build}`;
    const cfg = sc.config(slotOf(build), build);
    try {
      const r = await invoke(BUILDS[build], sc.plugin, 'ADD', cfg, pod, id, ['/usr/bin/time', '-f', 'maxrss=%M']);
      const m = /maxrss=(\d+)/.exec(r.stderr);
      if (r.code === 0 && m) results[build].rssKiB = Number(m[1]);
      await invoke(BUILDS[build], sc.plugin, 'DEL', cfg, pod, id);
    } finally {
      delPod(pod);
    }
  }
}

/** STATUS (ours, 1.1.0) vs the reference's VERSION, and VERSION / process start-up of everything. */
async function startup(results, dataRoot) {
  const cmds = {
    'node -e 0': [process.execPath, ['-e', '0']],
    '/bin/true': ['/bin/true', []],
  };
  const samples = {};
  for (let i = 0; i < N; i++) {
    for (const build of rotated(BUILD_NAMES, i)) {
      const v = await must(invoke(BUILDS[build], 'bridge', 'VERSION', { cniVersion: '1.0.0' }, '', 'v'), `${build} VERSION`);
      (samples[`VERSION ${build}`] ??= []).push(v.ms);
      const slot = slotOf(build);
      const statusCfg = {
        cniVersion: '1.1.0',
        name: `bench-status-${slot}`,
        type: 'bridge',
        bridge: `cnibr${slot}`,
        ipam: { type: 'host-local', dataDir: join(dataRoot, `status-${slot}`), ranges: [[{ subnet: `10.${200 + slot}.0.0/16` }]] },
      };
      if (build !== 'reference') {
        const s = await must(invoke(BUILDS[build], 'bridge', 'STATUS', statusCfg, '', 'status'), `${build} STATUS`);
        (samples[`STATUS ${build}`] ??= []).push(s.ms);
      }
    }
    for (const [name, [file, args]] of Object.entries(cmds)) {
      const t0 = process.hrtime.bigint();
      spawnSync(file, args, { stdio: 'ignore' });
      (samples[name] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  for (const [k, v] of Object.entries(samples)) results[k] = summarize(v);
}

function machine() {
  const model = (() => {
    try {
      return /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  return { date: new Date().toISOString(), nproc: cpus().length, kernel: sh('uname', ['-r']).trim(), cpu: model, node: process.version };
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const ratio = (ours, ref) => (Number.isFinite(ours) && Number.isFinite(ref) && ref > 0 ? `${(ours / ref).toFixed(2)}×` : '–');

export function renderMarkdown(report) {
  const lines = [];
  const m = report.machine;
  lines.push(
    `Benchmark ${m.date.slice(0, 16).replace('T', ' ')} UTC · ${m.nproc} cores · ${m.cpu} · Linux ${m.kernel} · Node ${m.node} · ` +
      `N=${report.params.iterations}, ${report.params.concurrency} concurrent × ${report.params.rounds} rounds`,
  );
  lines.push('');
  lines.push('| scenario | figure | reference | bundle | ratio | standalone | ratio |');
  lines.push('|---|---|---:|---:|---:|---:|---:|');
  for (const sc of report.scenarios) {
    const row = (figure, key, fmt) => {
      const ref = sc.results.reference?.[key];
      const b = sc.results.bundle?.[key];
      const s = sc.results.standalone?.[key];
      const v = (x) => (x === undefined ? '–' : fmt(x));
      const med = (x) => (x === undefined ? NaN : typeof x === 'number' ? x : x.median);
      lines.push(`| ${sc.label} | ${figure} | ${v(ref)} | ${v(b)} | ${ratio(med(b), med(ref))} | ${v(s)} | ${ratio(med(s), med(ref))} |`);
    };
    const dist = (x) => `${f1(x.median)} / ${f1(x.p90)} / ${f1(x.p99)}`;
    row('ADD ms (median / p90 / p99)', 'add', dist);
    row('DEL ms (median / p90 / p99)', 'del', dist);
    row(`${report.params.concurrency} concurrent ADDs, wall ms (median)`, 'cadd', (x) => f1(x.median));
    row(`${report.params.concurrency} concurrent DELs, wall ms (median)`, 'cdel', (x) => f1(x.median));
    row('peak RSS of one ADD, MiB', 'rssKiB', (x) => (x / 1024).toFixed(1));
  }
  const st = report.startup;
  const d = (k) => (st[k] ? `${f1(st[k].median)} / ${f1(st[k].p90)}` : '–');
  const r = (k, ref) => ratio(st[k]?.median, st[ref]?.median);
  lines.push(
    `| (all) | STATUS ms (median / p90; reference: VERSION, it has no STATUS) | ${d('VERSION reference')} | ${d('STATUS bundle')} | ` +
      `${r('STATUS bundle', 'VERSION reference')} | ${d('STATUS standalone')} | ${r('STATUS standalone', 'VERSION reference')} |`,
  );
  lines.push(
    `| (all) | VERSION ms (median / p90) = process start-up | ${d('VERSION reference')} | ${d('VERSION bundle')} | ` +
      `${r('VERSION bundle', 'VERSION reference')} | ${d('VERSION standalone')} | ${r('VERSION standalone', 'VERSION reference')} |`,
  );
  lines.push('');
  lines.push(
    `Context: \`node -e 0\` ${d('node -e 0')} ms, \`/bin/true\` ${d('/bin/true')} ms (median / p90). Bundle bridge ADD / \`node -e 0\`: ` +
      `${ratio(report.scenarios[0]?.results.bundle?.add?.median, st['node -e 0']?.median)}.`,
  );
  if (report.scale) lines.push(...renderScale(report.scale, report.params.scale.sizes));
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// scale: one more pod on a node that already has 0, 100, 250

const SCALE_SIZES = (argv.includes('--scale-sizes') ? String(argv[argv.indexOf('--scale-sizes') + 1]) : QUICK ? '0,20' : '0,100,250')
  .split(',')
  .map(Number);
const SCALE_N = num('--scale-iterations', QUICK ? 3 : 10);
/** Iterations per size in one round (every round visits every size: see scale()). */
const SCALE_ROUND = Math.max(1, num('--scale-round', 5));
const SCALE_BACKENDS = (argv.includes('--scale-backends') ? String(argv[argv.indexOf('--scale-backends') + 1]) : 'iptables,nftables').split(
  ',',
);
const SCALE_BUILDS = (
  argv.includes('--scale-builds') ? String(argv[argv.indexOf('--scale-builds') + 1]) : 'reference,standalone,bundle'
).split(',');

/** Whether a build has the plugin (portmap arrives later in ours). */
const hasPlugin = (build, plugin) => existsSync(join(BUILDS[build], plugin));

/**
 * The chains of the scale scenario for one backend. The reference (Debian's 1.1.1) has only the
 * iptables backend: in the nftables rows it runs its iptables path on the same node.
 */
export function scaleChains(backend, dataDir, withPortmap) {
  const bridge = {
    type: 'bridge',
    config: {
      type: 'bridge',
      bridge: 'cnisc0',
      isGateway: true,
      ipMasq: true,
      ipMasqBackend: backend,
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.250.0.0/16' }]] },
    },
  };
  const noMasq = { ...bridge, config: { ...bridge.config, ipMasq: false } };
  const chains = [
    { id: 'nomasq', label: 'bridge without ipMasq (baseline)', cniVersion: '1.0.0', name: 'scale', plugins: [noMasq] },
    { id: 'bridge', label: 'bridge (isGateway, ipMasq)', cniVersion: '1.0.0', name: 'scale', plugins: [bridge] },
  ];
  if (withPortmap) {
    const portmap = (hostPort) => ({
      type: 'portmap',
      config: {
        type: 'portmap',
        capabilities: { portMappings: true },
        backend,
        runtimeConfig: { portMappings: hostPort ? [{ hostPort, containerPort: 80, protocol: 'tcp' }] : [] },
      },
    });
    chains.push({
      id: 'portmap0',
      label: 'bridge + portmap, no host port',
      cniVersion: '1.0.0',
      name: 'scale',
      plugins: [bridge, portmap(0)],
    });
    chains.push({
      id: 'portmap1',
      label: 'bridge + portmap, one host port',
      cniVersion: '1.0.0',
      name: 'scale',
      plugins: [bridge, portmap(-1)],
    });
  }
  return chains;
}

/** The reference has no `backend` keys: strip them (it then uses iptables). */
function forBuild(chain, build, podIndex) {
  return {
    ...chain,
    plugins: chain.plugins.map((p) => {
      const config = { ...p.config };
      if (build === 'reference') {
        delete config.ipMasqBackend;
        delete config.backend;
      }
      const pm = config.runtimeConfig?.portMappings;
      if (pm?.length) config.runtimeConfig = { portMappings: pm.map((m) => ({ ...m, hostPort: 20000 + (podIndex % 40000) })) };
      return { ...p, config };
    }),
  };
}

/** Attach `count` background pods with our standalone build, `parallel` at a time. */
async function addBackground(chain, count, parallel = 6) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const pod = newPod();
      const c = forBuild(chain, 'standalone', i);
      c.lastResult = {};
      await must(invokeChain(BUILDS.standalone, c, 'ADD', pod, `bg-${i}`), `background pod ${i}`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** Whether the portmap chains are measured: only once every build has a portmap plugin. */
const portmapInEveryBuild = () => SCALE_BUILDS.every((b) => hasPlugin(b, 'portmap'));

/** Where a node's leases live (each node of the scale scenario has its own). */
const scaleDataDir = (backend, size) => join(WORK, `scale-${backend}-${size}`);

/**
 * Runs inside the node namespace of one size: attaches its background pods, with the fullest
 * chain (every firewall feature). The layout is the reference's, so every build sees the same node.
 */
async function innerScaleAttach(backend, size) {
  const chains = scaleChains(backend, scaleDataDir(backend, size), portmapInEveryBuild());
  await addBackground(chains[chains.length - 1], size);
}

/**
 * Runs inside the node namespace of one size: `iterations` ADD + DEL of one more pod per chain
 * and build (builds interleaved); returns the samples.
 */
async function innerScaleMeasure(backend, size, iterations, round) {
  const chains = scaleChains(backend, scaleDataDir(backend, size), portmapInEveryBuild());
  const out = {};
  for (const chain of chains) {
    const builds = SCALE_BUILDS.filter((b) => chain.plugins.every((p) => hasPlugin(b, p.type)));
    for (let i = 0; i < iterations; i++) {
      for (const build of rotated(builds, i + round)) {
        const pod = newPod();
        const id = `scale-${chain.id}-${build}-${size}-${round}-${i}`;
        const c = forBuild(chain, build, 1000 + i);
        try {
          const add = await must(invokeChain(BUILDS[build], c, 'ADD', pod, id), `${build} scale ADD`);
          const del = await must(invokeChain(BUILDS[build], c, 'DEL', pod, id), `${build} scale DEL`);
          const samples = ((out[chain.id] ??= {})[build] ??= { add: [], del: [] });
          samples.add.push(add.ms);
          samples.del.push(del.ms);
        } finally {
          delPod(pod);
        }
      }
    }
  }
  return out;
}

/** Run this script with `args` inside the network namespace `node`; resolves with its JSON output file. */
function inNode(node, args, infix) {
  const file = join(WORK, `scale-${node}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  return new Promise((resolve, reject) => {
    const child = spawn(
      'nsenter',
      [`--net=/run/netns/${node}`, '--', process.execPath, fileURLToPath(import.meta.url), ...args, file, ...argv],
      {
        stdio: 'inherit',
        env: { ...process.env, CNI_TS_BENCH_POD_INFIX: infix },
      },
    );
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(readFileSync(file, 'utf8'))) : reject(new Error(`scale ${args.join(' ')} failed (exit ${code})`)),
    );
  });
}

/**
 * Each backend, and each size, on a node namespace of its own (so one backend's rules do not
 * weigh on the other, and every size stays as it is): the background pods are attached first,
 * then the sizes are measured in rounds of `--scale-round` iterations, every round visiting every
 * size. A machine whose load drifts (other work on a shared VM) then weighs on every size alike,
 * instead of on whichever size happened to be measured last.
 */
async function scale() {
  const result = {};
  for (const [b, backend] of SCALE_BACKENDS.entries()) {
    const nodes = SCALE_SIZES.map((size, k) => ({ size, name: `cnitsp${TAG}n${backend[0]}${k}`, infix: `s${backend[0]}${k}` }));
    const chains = scaleChains(backend, '', portmapInEveryBuild());
    const out = Object.fromEntries(chains.map((c) => [c.id, { label: c.label, sizes: {} }]));
    const raw = {};
    try {
      for (const n of nodes) {
        sh('ip', ['netns', 'add', n.name]);
        sh('ip', ['-n', n.name, 'link', 'set', 'lo', 'up']);
        if (n.size > 0) {
          process.stderr.write(`bench: scale ${backend}: attaching ${n.size} background pods to a node…\n`);
          await inNode(n.name, ['--inner-scale-attach', backend, String(n.size)], `${n.infix}b`);
        }
      }
      const rounds = Math.ceil(SCALE_N / SCALE_ROUND);
      for (let r = 0; r < rounds; r++) {
        const iterations = Math.min(SCALE_ROUND, SCALE_N - r * SCALE_ROUND);
        process.stderr.write(`bench: scale ${backend}: round ${r + 1}/${rounds} (${iterations} per chain, build and size)…\n`);
        for (const n of rotated(nodes, r + b)) {
          const samples = await inNode(
            n.name,
            ['--inner-scale-measure', backend, String(n.size), String(iterations), String(r)],
            `${n.infix}r${r}`,
          );
          for (const [chain, builds] of Object.entries(samples))
            for (const [build, s] of Object.entries(builds)) {
              const acc = (((raw[chain] ??= {})[n.size] ??= {})[build] ??= { add: [], del: [] });
              acc.add.push(...s.add);
              acc.del.push(...s.del);
            }
        }
      }
    } finally {
      for (const n of nodes) spawnSync('ip', ['netns', 'del', n.name]);
    }
    for (const [chain, sizes] of Object.entries(raw))
      for (const [size, builds] of Object.entries(sizes))
        out[chain].sizes[size] = Object.fromEntries(
          Object.entries(builds).map(([build, s]) => [build, { add: summarize(s.add), del: summarize(s.del) }]),
        );
    result[backend] = out;
  }
  return result;
}

export function renderScale(scaleReport, sizes) {
  if (!scaleReport) return [];
  const lines = [
    '',
    '| backend | chain | pods | ADD reference | ADD standalone | ratio | DEL reference | DEL standalone | ratio | ADD bundle | DEL bundle |',
  ];
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const med = (x) => x?.median;
  const growth = [];
  for (const [backend, chains] of Object.entries(scaleReport)) {
    for (const c of Object.values(chains)) {
      for (const size of sizes) {
        const r = c.sizes[size];
        if (!r) continue;
        const [ra, sa, ba] = ['reference', 'standalone', 'bundle'].map((b) => med(r[b]?.add));
        const [rd, sd, bd] = ['reference', 'standalone', 'bundle'].map((b) => med(r[b]?.del));
        lines.push(
          `| ${backend} | ${c.label} | ${size} | ${f1(ra)} | ${f1(sa)} | ${ratio(sa, ra)} | ${f1(rd)} | ${f1(sd)} | ${ratio(sd, rd)} | ${f1(ba)} | ${f1(bd)} |`,
        );
      }
      const [lo, hi] = [c.sizes[sizes[0]], c.sizes[sizes[sizes.length - 1]]];
      if (lo && hi && sizes.length > 1) {
        const g = (b, k) => ratio(med(hi[b]?.[k]), med(lo[b]?.[k]));
        const cells = ['standalone', 'reference', 'bundle'].flatMap((b) => [g(b, 'add'), g(b, 'del')]);
        growth.push(`| ${backend} | ${c.label} | ${cells.join(' | ')} |`);
      }
    }
  }
  if (growth.length) {
    lines.push('', `Growth, ${sizes[sizes.length - 1]} pods vs ${sizes[0]} (median / median):`, '');
    lines.push('| backend | chain | standalone ADD | standalone DEL | reference ADD | reference DEL | bundle ADD | bundle DEL |');
    lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
    lines.push(...growth);
  }
  return lines;
}

async function inner() {
  const dataRoot = join(WORK, 'ipam');
  mkdirSync(dataRoot, { recursive: true });
  const report = { machine: machine(), params: { iterations: N, concurrency: C, rounds: R }, scenarios: [], startup: {} };
  for (const sc of scenarios(dataRoot)) {
    if (flag('--only') && !argv.includes(sc.id)) continue;
    const raw = Object.fromEntries(sc.builds.map((b) => [b, {}]));
    process.stderr.write(`bench: ${sc.label}: ${N} × ADD+DEL per build…\n`);
    await sequential(sc, raw);
    process.stderr.write(`bench: ${sc.label}: ${R} × ${C} concurrent ADDs/DELs per build…\n`);
    await concurrent(sc, raw);
    await peakRss(sc, raw);
    const results = {};
    for (const [build, r] of Object.entries(raw)) {
      results[build] = {};
      for (const [k, v] of Object.entries(r)) results[build][k] = Array.isArray(v) ? summarize(v) : v;
    }
    report.scenarios.push({ id: sc.id, label: sc.label, results });
  }
  if (!flag('--only') || argv.includes('scale')) {
    report.scale = await scale();
    report.params.scale = { sizes: SCALE_SIZES, iterations: SCALE_N };
  }
  if (!flag('--only') || argv.includes('startup')) {
    process.stderr.write(`bench: start-up and STATUS…\n`);
    await startup(report.startup, dataRoot);
  }
  const md = renderMarkdown(report);
  console.log(md);
  const out = join(ROOT, '.bench');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(out, 'latest.md'), `${md}\n`);
  process.stderr.write(`bench: wrote .bench/latest.json and .bench/latest.md\n`);
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const attachAt = argv.indexOf('--inner-scale-attach');
  const measureAt = argv.indexOf('--inner-scale-measure');
  const run =
    attachAt >= 0
      ? async () => {
          await innerScaleAttach(argv[attachAt + 1], Number(argv[attachAt + 2]));
          writeFileSync(argv[attachAt + 3], '{}');
        }
      : measureAt >= 0
        ? async () => {
            const [backend, size, iterations, round, file] = argv.slice(measureAt + 1, measureAt + 6);
            writeFileSync(file, JSON.stringify(await innerScaleMeasure(backend, Number(size), Number(iterations), Number(round))));
          }
        : argv.includes('--inner')
          ? inner
          : outer;
  run().catch((e) => {
    console.error(`bench: ${e.stack ?? e}`);
    process.exitCode = 1;
  });
}
