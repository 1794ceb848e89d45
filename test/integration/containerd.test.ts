// A real runtime drives our plugins: Debian's containerd + runc, started by this test, runs
// busybox containers with `ctr run --rm --cni` for each example conflist. Two containers get
// addresses from our plugins and ping each other and the node; when they stop, ctr sends DEL
// (with an empty CNI_NETNS, as it does) and leases, veths, firewall state and libcni's result
// cache are gone. The CNI bin dir holds only our executables: no reference plugin at all.
//
// Isolation: containerd and every ctr call run inside a throwaway node network namespace (entered
// with nsenter: `ip netns exec` would remount /sys and hide the cgroup mounts runc needs) and a
// private mount namespace of this test, in which /etc, /opt, /var/lib and /run are overlaid with
// temp dirs; /etc/cni/net.d and /opt/cni/bin are links into the test's temp dir. So the machine's
// network namespace, /etc, /opt/cni, /var/lib/cni and /run/containerd (ctr's FIFOs, shim sockets)
// are untouched; containerd's root, state, socket and runc root are in the temp dir too. The
// image is built by hand from busybox-static (no registry).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxImage, haveStaticBusybox } from '../helpers/busybox-image.ts';
import { CriClient } from '../helpers/cri.ts';
import {
  CONFLIST_DIR,
  CONFLIST_FILES,
  firewallState,
  leaseFiles,
  nodeWithUplink,
  subnetsOf,
  UPLINK,
  withDataDir,
} from '../helpers/examples.ts';
import { BUILD, haveBuild, isRoot, type Netns, ROOT, trySh, uniqueName, World } from '../helpers/kernel.ts';
import { loadConfList } from '../helpers/libcni.ts';
import { ask, REMOTE, remoteHost, Servers } from '../helpers/traffic.ts';

// Debian packages containerd (pulls in runc), busybox-static, util-linux.
const haveContainerd =
  ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/sbin/runc', '/usr/bin/unshare', '/usr/bin/nsenter'].every((f) => existsSync(f)) &&
  haveStaticBusybox();

const CTR_NS = uniqueName('cnits');

/** Mounts the overlays and links, then becomes containerd (so its pid holds the mount namespace). */
const SETUP = `
set -eu
: "\${T:?}"
for d in etc opt var/lib run; do
  mkdir -p "$T/ovl/$d/upper" "$T/ovl/$d/work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/ovl/$d/upper,workdir=$T/ovl/$d/work" "/$d"
done
mkdir -p /etc/cni /opt/cni
ln -s "$T/netd" /etc/cni/net.d
ln -s "$T/bin" /opt/cni/bin
exec containerd --config "$T/config.toml"
`;

const PAUSE_IMAGE = 'docker.io/library/cnits-pause:latest';

/** containerd's config: everything under the temp dir; CRI only when asked (it then needs restrict_oom_score_adj). */
function containerdConfig(t: string, cri: boolean): string {
  const disabled = [
    'io.containerd.snapshotter.v1.btrfs',
    'io.containerd.snapshotter.v1.zfs',
    'io.containerd.snapshotter.v1.devmapper',
    'io.containerd.snapshotter.v1.aufs',
  ];
  if (!cri) disabled.push('io.containerd.grpc.v1.cri');
  const criSection = `
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${t}/bin"
    conf_dir = "${t}/netd"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "${t}/runc-cri"
`;
  return `version = 2
root = "${t}/root"
state = "${t}/state"
disabled_plugins = ${JSON.stringify(disabled)}
[grpc]
  address = "${t}/containerd.sock"
[ttrpc]
  address = "${t}/containerd.sock.ttrpc"
[debug]
  address = "${t}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "${t}/opt"
${cri ? criSection : ''}`;
}

class Containerd {
  daemon!: ChildProcess;
  readonly sock: string;
  constructor(
    readonly node: Netns,
    readonly t: string,
    readonly cri = false,
  ) {
    this.sock = join(t, 'containerd.sock');
  }

  async start(): Promise<void> {
    writeFileSync(join(this.t, 'config.toml'), containerdConfig(this.t, this.cri));
    const log = openSync(join(this.t, 'containerd.log'), 'a');
    // nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroup mounts runc needs.
    this.daemon = spawn('nsenter', [`--net=${this.node.path}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', SETUP], {
      env: { ...process.env, T: this.t },
      stdio: ['ignore', log, log],
    });
    for (let i = 0; i < 200 && !existsSync(this.sock); i++) {
      if (this.daemon.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!existsSync(this.sock))
      throw new Error(`containerd did not start:\n${readFileSync(join(this.t, 'containerd.log'), 'utf8').slice(-3000)}`);
  }

  /** argv for a ctr command inside containerd's network and mount namespaces. */
  ctrArgs(args: string[], namespace = CTR_NS): string[] {
    return [
      '--target',
      String(this.daemon.pid),
      '--mount',
      '--net',
      '--',
      'ctr',
      '--address',
      this.sock,
      '--namespace',
      namespace,
      ...args,
    ];
  }
  ctr(args: string[], namespace = CTR_NS): string {
    return execFileSync('nsenter', this.ctrArgs(args, namespace), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }
  spawnCtr(args: string[]): ChildProcess {
    return spawn('nsenter', this.ctrArgs(args), { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Stop containerd and any shim it left (only processes serving our socket). */
  async stop(): Promise<void> {
    if (!this.daemon || this.daemon.exitCode !== null) return;
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.startsWith('/usr/bin/containerd-shim') && cmd.includes(this.t)) process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const exited = new Promise((r) => this.daemon.once('exit', r));
    this.daemon.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (this.daemon.exitCode === null) this.daemon.kill('SIGKILL');
    removeCgroups(CTR_NS);
  }
}

/**
 * runc puts containers in cgroups under /<ctr namespace or CRI cgroup parent>/<id> of every
 * hierarchy; the containers' own are gone with them, the empty parent is removed here.
 */
function removeCgroups(name: string): void {
  if (!name.startsWith('cnits')) return; // only ever our own
  const rmTree = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      /* still in use */
    }
  };
  for (const ctrl of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) rmTree(join('/sys/fs/cgroup', ctrl, name));
}

/** Collect a child's output; resolves with its exit code. */
function outputOf(child: ChildProcess): { text: () => string; done: Promise<number> } {
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const done = new Promise<number>((r) => child.once('close', (code) => r(code ?? 1)));
  return { text: () => out, done };
}

async function until(cond: () => boolean, what: string, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Global addresses in `ip -o addr show dev eth0` output of busybox. */
function addressesIn(text: string): string[] {
  return [...text.matchAll(/inet6? ([0-9a-f.:]+)\/\d+ .*scope global/g)].map((m) => m[1]!);
}

/**
 * net.d and the CNI bin dir: our plugins installed the way users install them, and nothing else
 * (containerd runs loopback for every sandbox and portmap for the examples' chains: ours).
 */
function prepareDirs(t: string): void {
  mkdirSync(join(t, 'netd'));
  execFileSync(
    process.execPath,
    [join(ROOT, 'scripts/install-plugins.mjs'), '--dir', join(t, 'bin'), ...(BUILD === 'standalone' ? ['--standalone'] : [])],
    { stdio: 'pipe' },
  );
  expect(readdirSync(join(t, 'bin')).sort()).toEqual(
    BUILD === 'standalone'
      ? ['bridge', 'cni-ts', 'host-local', 'loopback', 'portmap', 'ptp']
      : ['bridge', 'host-local', 'loopback', 'portmap', 'ptp'],
  );
}

/** The conflist as it goes into net.d, its IPAM dataDir in the temp dir. */
function writeConflist(t: string, file: string) {
  const dataDir = join(t, 'ipam', file);
  const list = withDataDir(loadConfList(join(CONFLIST_DIR, file)), dataDir);
  for (const f of readdirSync(join(t, 'netd'))) rmSync(join(t, 'netd', f));
  writeFileSync(join(t, 'netd', file), JSON.stringify(list, null, 2));
  return { list, dataDir, families: subnetsOf(list).length };
}

describe.skipIf(!isRoot || !haveBuild || !haveContainerd)(`containerd (ctr run --cni) with only our ${BUILD} plugins`, () => {
  const world = new World();
  let node: Netns;
  let t: string;
  let ctrd: Containerd;
  let image: string;

  beforeAll(async () => {
    node = nodeWithUplink(world);
    t = world.tmpdir('cnits-ctrd-');
    prepareDirs(t);
    const img = buildBusyboxImage(join(t, 'image-build'));
    image = img.name;
    ctrd = new Containerd(node, t);
    await ctrd.start();
    ctrd.ctr(['images', 'import', img.tarball]);
  }, 60_000);

  afterAll(async () => {
    await ctrd?.stop();
    world.cleanup();
  }, 60_000);

  for (const file of CONFLIST_FILES) {
    it(`${file}: two containers get addresses, ping each other and the node; stopping them releases everything`, async () => {
      const { list, dataDir, families } = writeConflist(t, file);

      // Container A stays up, printing its addresses first.
      const a = uniqueName('a');
      const runA = ctrd.spawnCtr([
        'run',
        '--rm',
        '--cni',
        '--runc-root',
        join(t, 'runc'),
        image,
        a,
        'sh',
        '-c',
        'ip -o addr show dev eth0; echo READY; exec sleep 600',
      ]);
      const outA = outputOf(runA);
      await until(() => outA.text().includes('READY') || runA.exitCode !== null, `container ${a}`);
      const addrA = addressesIn(outA.text());
      expect(addrA, outA.text()).toHaveLength(families);
      expect(leaseFiles(dataDir, list.name)).toHaveLength(families);

      // Container B pings A (every family) and the node's own address, then exits: DEL for B.
      const targets = [...addrA, ...addrA.map((x) => (x.includes(':') ? UPLINK.v6 : UPLINK.v4))];
      const script = targets
        .map(
          (x) =>
            `ok=1; for i in 1 2 3; do ping -c 1 -W 2 ${x} >/dev/null && { ok=0; break; }; done; [ $ok = 0 ] || { echo "no reply from ${x}"; exit 1; }`,
        )
        .join('; ');
      const b = uniqueName('b');
      const runB = outputOf(
        ctrd.spawnCtr([
          'run',
          '--rm',
          '--cni',
          '--runc-root',
          join(t, 'runc'),
          image,
          b,
          'sh',
          '-c',
          `ip -o addr show dev eth0; ${script}`,
        ]),
      );
      const codeB = await runB.done;
      expect(codeB, runB.text()).toBe(0);
      const addrB = addressesIn(runB.text());
      expect(addrB).toHaveLength(families);
      expect(addrB.filter((x) => addrA.includes(x))).toEqual([]);
      expect(leaseFiles(dataDir, list.name)).toHaveLength(families); // B's lease released by its DEL

      // Stop A: its foreground `ctr run --rm` sends DEL and removes the container.
      ctrd.ctr(['tasks', 'kill', '--signal', 'SIGKILL', a]);
      await outA.done;
      expect(leaseFiles(dataDir, list.name)).toEqual([]);
      expect(node.links().filter((l) => l.linkinfo?.info_kind === 'veth')).toEqual([]);
      const fw = firewallState(node);
      for (const id of [a, b]) expect(fw).not.toContain(id);
      const cache = join(t, 'ovl/var/lib/upper/cni/results');
      expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]); // libcni's cache entries removed by DEL
      expect(ctrd.ctr(['containers', 'list', '--quiet']).trim()).toBe('');
    });
  }
});

// kubelet's way: the CRI API. containerd's CRI loads the conflist (written before it starts: 1.6
// reloads on write/rename, not on create), runs the pause sandbox, and sends ADD; StopPodSandbox
// sends DEL with the netns, RemovePodSandbox another DEL without it.
describe.skipIf(!isRoot || !haveBuild || !haveContainerd)(
  `containerd CRI (RunPodSandbox/StopPodSandbox/RemovePodSandbox) with only our ${BUILD} plugins`,
  () => {
    let world: World | undefined;
    let ctrd: Containerd | undefined;
    let cri: CriClient | undefined;
    const servers = new Servers();

    afterEach(async () => {
      servers.stopAll();
      cri?.close();
      await ctrd?.stop();
      world?.cleanup();
      cri = ctrd = world = undefined;
    }, 60_000);

    for (const file of CONFLIST_FILES) {
      it(`${file}: two sandboxes get addresses, reach each other, a host port answers from another host; stop and remove release all`, async () => {
        world = new World();
        const node = nodeWithUplink(world);
        const remote = remoteHost(world, node);
        const t = world.tmpdir('cnits-cri-');
        prepareDirs(t);
        const { list, dataDir, families } = writeConflist(t, file);
        const pause = buildBusyboxImage(join(t, 'image-build'), PAUSE_IMAGE, ['sleep', '2147483647']);
        ctrd = new Containerd(node, t, true);
        await ctrd.start();
        ctrd.ctr(['images', 'import', pause.tarball], 'k8s.io');
        cri = new CriClient(ctrd.sock);

        const ids: string[] = [];
        for (const i of [0, 1]) {
          // Sandbox 0 has a hostPort, as kubelet asks for one: port_mappings in the sandbox config.
          const ports = i === 0 ? [{ containerPort: 80, hostPort: 18090 }] : [];
          ids.push(
            await cri.runPodSandbox({ name: `web-${i}`, namespace: 'default', uid: `${CTR_NS}-${i}`, cgroupParent: `/${CTR_NS}`, ports }),
          );
        }
        const status = await Promise.all(ids.map((id) => cri!.podSandboxStatus(id)));
        for (const st of status) {
          expect(st.state).toBe(0); // SANDBOX_READY
          expect(st.ips).toHaveLength(families);
        }
        expect(new Set(status.flatMap((st) => st.ips)).size).toBe(2 * families);
        expect(leaseFiles(dataDir, list.name)).toHaveLength(2 * families);

        // Pod 0 → pod 1 (every family) and → the node, from inside pod 0's network namespace.
        for (const ip of status[1]!.ips) {
          for (const target of [ip, ip.includes(':') ? UPLINK.v6 : UPLINK.v4]) {
            let ok = false;
            for (let k = 0; k < 3 && !ok; k++)
              ok = trySh('nsenter', [`--target=${status[0]!.pid}`, '--net', 'ping', '-c', '1', '-W', '2', target]).code === 0;
            expect(ok, `pod 0 → ${target}`).toBe(true);
          }
        }

        // Sandbox 0's host port, from another host through the node, and from the node's 127.0.0.1.
        await servers.start(status[0]!.pid!, 'tcp', 80, 'sandbox-0');
        expect(await ask(remote, 'tcp', REMOTE.nodeV4, 18090)).toBe('sandbox-0');
        expect(await ask(remote, 'tcp', UPLINK.v4, 18090)).toBe('sandbox-0');
        expect(await ask(node, 'tcp', '127.0.0.1', 18090)).toBe('sandbox-0');
        expect(firewallState(node)).toContain(ids[0]);
        // Our loopback brought each sandbox's lo up.
        for (const st of status)
          expect(trySh('nsenter', [`--target=${st.pid}`, '--net', 'ip', '-o', 'link', 'show', 'lo']).stdout).toContain(',UP');

        for (const id of ids) await cri.stopPodSandbox(id);
        expect(leaseFiles(dataDir, list.name)).toEqual([]);
        expect(node.links().filter((l) => l.linkinfo?.info_kind === 'veth' && l.ifname !== remote.nodeLink)).toEqual([]);
        const fw = firewallState(node);
        for (const id of ids) expect(fw).not.toContain(id);
        expect(fw).not.toMatch(/CNI-DN-/);

        for (const id of ids) await cri.removePodSandbox(id); // the second DEL, without netns
        expect(await cri.listPodSandbox()).toEqual([]);
        expect(leaseFiles(dataDir, list.name)).toEqual([]);
        const cache = join(t, 'ovl/var/lib/upper/cni/results');
        expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
      });
    }
  },
);
