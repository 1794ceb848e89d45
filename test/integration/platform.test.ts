// How a plugin process behaves toward the process that runs it, on every build: a closed stdout,
// an environment with a name listed twice, a parent that blocked SIGALRM while a lock is held, and
// a delegate's ill-formed UTF-8 output. (The standalone runtime's own calls are covered one by one,
// per architecture, by test/unit/host-runtime.test.ts.)
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ARCH } from '../../lib/platform/arch.ts';
import {
  BUILD,
  EMULATED,
  haveBuild,
  haveReference,
  isRoot,
  PLUGIN_DIR,
  REFERENCE_DIR,
  ROOT,
  runPlugin,
  trySh,
  World,
} from '../helpers/kernel.ts';
import { compileC } from '../helpers/targets.ts';

let world: World;
beforeEach(() => {
  world = new World();
});
afterEach(() => world.cleanup());

let helpers: World;
let execRaw: string;
beforeAll(() => {
  helpers = new World();
  execRaw = compileC(join(ROOT, 'test', 'helpers', 'exec-raw.c'), ARCH, helpers.tmpdir(), 'exec-raw');
});
afterAll(() => helpers.cleanup());

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `argv` with `input` on stdin; `closeStdout` closes our end of its stdout before it writes. */
function exec(
  argv: string[],
  input: string,
  opts: { env?: Record<string, string>; closeStdout?: boolean; timeoutMs?: number } = {},
): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: opts.env ?? {}, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    if (opts.closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // A watchdog, not a timing assertion: a plugin that never ends must fail the test, not hang it.
    const watchdog = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input); // the plugin reads all of stdin before it writes anything
  });
}

/** `flock -x` on `path` in a process group of its own until `release()` (kills the group). */
async function holdLock(path: string): Promise<{ release(): void }> {
  const holder: ChildProcess = spawn('flock', ['-x', path, 'sleep', '300'], { stdio: 'ignore', detached: true });
  while (trySh('flock', ['-n', path, 'true']).code === 0) await new Promise((wake) => setTimeout(wake, 20));
  return { release: () => process.kill(-holder.pid!, 'SIGKILL') };
}

describe.skipIf(!haveBuild)('the plugin process', () => {
  it('a closed stdout ends the run with exit 70 and a line on stderr, not with SIGPIPE or a stack trace', async () => {
    for (const plugin of ['bridge', 'host-local', 'ptp']) {
      const r = await exec([join(PLUGIN_DIR, plugin)], '{"cniVersion":"1.0.0"}', { env: { CNI_COMMAND: 'VERSION' }, closeStdout: true });
      expect({ plugin, code: r.code, signal: r.signal }).toEqual({ plugin, code: 70, signal: null });
      expect(r.stderr).toMatch(/^cannot write the result to stdout: EPIPE: broken pipe, write\n$/);
    }
  });

  // qemu-user rebuilds the environment it hands its guest (a repeated name keeps its last value
  // there): an emulated build cannot be shown a raw environment.
  it.skipIf(EMULATED)('a variable listed twice keeps its first value (as getenv(3), Node and the reference read it)', async () => {
    const dirs = [PLUGIN_DIR, ...(haveReference ? [REFERENCE_DIR] : [])];
    for (const dir of dirs) {
      const r = await exec(
        [
          execRaw,
          '--env',
          'CNI_COMMAND=VERSION',
          '--env',
          'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
          '--env',
          'CNI_COMMAND=ADD',
          '--',
          join(dir, 'bridge'),
        ],
        '{"cniVersion":"1.0.0"}',
      );
      expect({ dir, code: r.code }).toEqual({ dir, code: 0 });
      expect(JSON.parse(r.stdout)).toMatchObject({ cniVersion: '1.0.0', supportedVersions: expect.arrayContaining(['1.0.0']) });
    }
  });
});

describe.skipIf(!isRoot || !haveBuild)('lock waits with SIGALRM blocked by the parent', () => {
  const hostLocal = async (command: string, dataDir: string, timeoutMs: number) => {
    const pod = world.pod();
    const config = { cniVersion: '1.1.0', name: 'alrm', type: 'bridge', ipam: { type: 'host-local', dataDir, subnet: '10.79.0.0/24' } };
    const env = [
      'CNI_CONTAINERID=alrm',
      'CNI_IFNAME=eth0',
      `CNI_NETNS=${pod.path}`,
      `CNI_PATH=${PLUGIN_DIR}`,
      'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
    ];
    return exec(
      [
        execRaw,
        '--block-sigalrm',
        '--env',
        `CNI_COMMAND=${command}`,
        ...env.flatMap((e) => ['--env', e]),
        '--',
        join(PLUGIN_DIR, 'host-local'),
      ],
      JSON.stringify(config),
      { timeoutMs },
    );
  };

  /** Hold the network's lock in `dataDir` while `command` runs with SIGALRM blocked. */
  const whileLocked = async (command: string, timeoutMs: number): Promise<Exit> => {
    const dataDir = world.tmpdir();
    mkdirSync(join(dataDir, 'alrm'));
    writeFileSync(join(dataDir, 'alrm', 'lock'), '');
    const held = await holdLock(join(dataDir, 'alrm', 'lock'));
    try {
      return await hostLocal(command, dataDir, timeoutMs);
    } finally {
      held.release();
    }
  };

  it('STATUS answers 50 after its 2 s wait instead of waiting forever', async () => {
    const status = await whileLocked('STATUS', 30_000);
    expect({ code: status.code, signal: status.signal }, status.stderr).toEqual({ code: 1, signal: null });
    expect(JSON.parse(status.stdout)).toMatchObject({ code: 50, msg: expect.stringContaining('lock') });
  });

  // The full 60 s wait of lib/platform/lock.ts, where the timer is our own (lib/platform/qjs/host.c);
  // the Node build waits in flock(1), which Node starts with a clean signal mask.
  it.skipIf(BUILD !== 'standalone')(
    'ADD gives up with 11 after its 60 s wait instead of waiting forever',
    async () => {
      const add = await whileLocked('ADD', 120_000);
      expect({ code: add.code, signal: add.signal }, add.stderr).toEqual({ code: 1, signal: null });
      expect(JSON.parse(add.stdout)).toMatchObject({ code: 11, msg: expect.stringContaining('timed out after 60s waiting for lock') });
    },
    180_000,
  );
});

describe.skipIf(!isRoot || !haveBuild)('a delegate that prints ill-formed UTF-8', () => {
  it('its message reaches the runtime decoded as Node decodes it (maximal subparts → U+FFFD)', async () => {
    const node = world.node();
    const bin = world.tmpdir();
    // JSON-safe bytes: no '"', '\\' or control characters inside the string.
    const raw = Buffer.from([
      0x61, 0x80, 0x41, 0xe2, 0x82, 0x42, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0x80, 0x43, 0xc0, 0xaf, 0xf4, 0x90, 0x80, 0x80, 0x44, 0xe2,
    ]);
    const reply = Buffer.concat([Buffer.from('{"cniVersion":"1.0.0","code":7,"msg":"'), raw, Buffer.from('"}')]);
    writeFileSync(join(bin, 'reply.json'), reply);
    writeFileSync(join(bin, 'odd-ipam'), `#!/bin/sh\ncat ${join(bin, 'reply.json')}\nexit 1\n`);
    chmodSync(join(bin, 'odd-ipam'), 0o755);
    const r = await runPlugin({
      plugin: 'bridge',
      command: 'DEL',
      node,
      containerID: 'utf8',
      netns: '',
      ifname: 'eth0',
      path: `${bin}:${PLUGIN_DIR}`,
      config: { cniVersion: '1.0.0', name: 'utf8', type: 'bridge', bridge: 'cnitsu0', ipam: { type: 'odd-ipam' } },
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.json).toMatchObject({ code: 7 });
    expect(r.json.msg).toContain(new TextDecoder().decode(raw));
    expect(new TextDecoder().decode(raw)).toBe('a\uFFFDA\uFFFDB😀\uFFFD\uFFFD\uFFFDC\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFDD\uFFFD');
  });
});
