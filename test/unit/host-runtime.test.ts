// lib/platform/qjs/host.c's system call wrappers and text decoding, on every target this machine
// can build and run (the arm64 executable under qemu-user): UTF-8 decoding against Node's
// TextDecoder, directory names, the ioctl allow-list, the lock wait's deadline with SIGALRM
// blocked, and duplicated environment variables. Through test/qjs/probe.ts, built like a plugin.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCH } from '../../lib/platform/arch.ts';
import { ROOT, trySh } from '../helpers/kernel.ts';
import { ARCHES, buildProbe, canTarget, compileC, type Probe } from '../helpers/probe.ts';

const haveStrace = trySh('strace', ['-V']).code === 0;

/** Deterministic pseudo-random bytes (xorshift), weighted toward UTF-8's edge cases. */
function randomStrings(seed: number, count: number): Uint8Array[] {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const pick = <T>(items: readonly T[]): T => items[next() % items.length]!;
  // Lead bytes at the boundaries (C0/C1 and F5+ never lead; E0/ED/F0/F4 narrow the next byte),
  // continuation bytes at theirs, ASCII, and whole valid characters of every length.
  const leads = [0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff];
  const conts = [0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf];
  const valid = ['é', '€', '😀', '\u{10FFFF}', '\uFFFD', '\uFEFF', 'a'].map((s) => [...Buffer.from(s)]);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const bytes: number[] = [];
    const len = next() % 12;
    for (let j = 0; j < len; j++) {
      const kind = next() % 6;
      if (kind === 0) bytes.push(pick(leads));
      else if (kind === 1) bytes.push(pick(conts));
      else if (kind === 2) bytes.push(0x20 + (next() % 0x5f));
      else if (kind === 3) bytes.push(...pick(valid));
      else if (kind === 4) bytes.push(next() & 0xff);
      else bytes.push(...pick(valid).slice(0, 1 + (next() % 3))); // a character cut short
    }
    if (i % 50 === 0) bytes.unshift(0xef, 0xbb, 0xbf); // a leading BOM is dropped
    out.push(Uint8Array.from(bytes));
  }
  return out;
}

function records(strings: Uint8Array[]): Uint8Array {
  const parts = strings.flatMap((s) => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(s.length);
    return [len, Buffer.from(s)];
  });
  return Buffer.concat(parts);
}

describe.each(ARCHES.filter(canTarget))('%s host runtime', (arch) => {
  let probe: Probe;
  let dir: string;
  let execRaw: string;
  beforeAll(async () => {
    probe = await buildProbe(arch);
    dir = mkdtempSync(join(tmpdir(), 'cnits-host-'));
    execRaw = compileC(join(ROOT, 'test', 'helpers', 'exec-raw.c'), ARCH, dir, 'exec-raw');
  }, 300_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (probe) rmSync(join(probe.exe, '..'), { recursive: true, force: true });
  });

  it('TextDecoder decodes random bytes exactly as Node does (maximal subparts → U+FFFD), fatal mode too', () => {
    const fixed = [
      [0x80, 0x41],
      [0xe2, 0x82, 0x41],
      [0xf0, 0x9f, 0x98],
      [0xed, 0xa0, 0x80],
      [0xc0, 0xaf],
      [0xf4, 0x90, 0x80, 0x80],
      [0xef, 0xbb, 0xbf, 0x41],
    ];
    const strings = [...fixed.map((b) => Uint8Array.from(b)), ...randomStrings(0x5eed + arch.length, 3000)];
    const got = probe.run<[string, boolean][]>('decode', [], records(strings));
    const lenient = new TextDecoder();
    const fatal = new TextDecoder('utf-8', { fatal: true });
    const want = strings.map((s): [string, boolean] => {
      let ok = true;
      try {
        fatal.decode(s);
      } catch {
        ok = false;
      }
      return [lenient.decode(s), ok];
    });
    expect(got.slice(0, 2)).toEqual([
      ['\uFFFDA', false],
      ['\uFFFDA', false],
    ]);
    const mismatches = strings.flatMap((s, i) =>
      JSON.stringify(got[i]) === JSON.stringify(want[i]) ? [] : [[Buffer.from(s).toString('hex'), got[i], want[i]]],
    );
    expect(mismatches).toEqual([]);
  });

  it('directory entries with ill-formed names are named as node:fs names them (80 41 is not 80)', () => {
    const names = mkdtempSync(join(dir, 'names-'));
    for (const raw of [[0x80, 0x41], [0x80], [0x41], [0xe2, 0x82], [0xe2, 0x82, 0x41]])
      writeFileSync(Buffer.from(`${names}/${Buffer.from(raw).toString('latin1')}`, 'latin1'), '');
    const got = probe.run<string[]>('readdir', [names]);
    expect([...got].sort()).toEqual(readdirSync(names).sort());
    expect(got).toEqual(expect.arrayContaining(['\uFFFDA', '\uFFFD', 'A']));
  });

  it('ioctl serves only the interface requests the plugins make', () => {
    expect(probe.run('ioctl', [String(0x5401)])).toEqual({ error: 'ioctl request 0x5401 not allowed' }); // TCGETS
    expect(probe.run('ioctl', [String(0x8946)])).toEqual({ error: 'ioctl request 0x8946 not allowed' }); // SIOCETHTOOL
    expect(typeof probe.run('ioctl', [String(0x8933)])).toBe('number'); // SIOCGIFINDEX: the call is made
  });

  it('a lock wait ends at its deadline even when the parent blocked SIGALRM', () => {
    const lock = join(dir, 'lock');
    writeFileSync(lock, '');
    const holder: ChildProcess = spawn('flock', ['-x', lock, 'sleep', '60'], { stdio: 'ignore', detached: true });
    try {
      while (trySh('flock', ['-n', lock, 'true']).code === 0) spawnSync('sleep', ['0.02']);
      // Short waits, many times: a timer tick that lands before flock() waits must not be lost either.
      const r = spawnSync(execRaw, ['--block-sigalrm', '--', ...probe.argv('flock', [lock, '30', '20'])], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.signal, 'the probe hung in flock() and was killed').toBeNull();
      const results = JSON.parse(r.stdout) as [number, number, number][];
      expect(results).toHaveLength(20);
      for (const [code, errno, ms] of results) {
        expect([code, errno]).toEqual([-1, 4]); // EINTR: lib/platform/lock.ts reports it as a timeout
        expect(ms).toBeGreaterThanOrEqual(29);
      }
    } finally {
      process.kill(-holder.pid!, 'SIGKILL');
    }
  });

  // The race a one-shot timer loses: strace holds the probe at the end of setitimer(2) for 200 ms,
  // so its 30 ms tick is handled before flock() starts waiting. The tick must come again.
  it.skipIf(!haveStrace)('a lock wait ends even when its deadline passes before flock() starts waiting', () => {
    const lock = join(dir, 'lock-race');
    writeFileSync(lock, '');
    const holder: ChildProcess = spawn('flock', ['-x', lock, 'sleep', '60'], { stdio: 'ignore', detached: true });
    try {
      while (trySh('flock', ['-n', lock, 'true']).code === 0) spawnSync('sleep', ['0.02']);
      const strace = ['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=setitimer', '-e', 'inject=setitimer:delay_exit=200000'];
      const r = spawnSync(strace[0]!, [...strace.slice(1), ...probe.argv('flock', [lock, '30', '3'])], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.signal, 'the probe hung in flock() and was killed').toBeNull();
      expect((JSON.parse(r.stdout) as number[][]).map(([code, errno]) => [code, errno])).toEqual([
        [-1, 4],
        [-1, 4],
        [-1, 4],
      ]);
    } finally {
      process.kill(-holder.pid!, 'SIGKILL');
    }
  });

  // qemu-user rebuilds the environment it hands its guest (a repeated name keeps its last value
  // there), so only the build machine's own executable sees a raw environment.
  it.skipIf(arch !== ARCH)('a variable listed twice in the environment keeps its first value, as getenv(3) reads it', () => {
    const r = spawnSync(
      execRaw,
      ['--env', 'CNI_X=first', '--env', 'OTHER=1', '--env', 'CNI_X=second', '--', ...probe.argv('env', ['CNI_X'])],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(r.stdout)).toBe('first');
  });
});
