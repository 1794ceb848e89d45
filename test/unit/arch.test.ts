// lib/platform/arch.ts, per architecture: every layout and flag against what each target's C
// headers say (test/helpers/layout.c, pinned below and re-derived with the compilers when they
// are installed), and the standalone runtime's file and interface calls on each target against
// the real kernel and Node (the arm64 executable under qemu-user).
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arch, LAYOUTS, type Layout } from '../../lib/platform/arch.ts';
import { errnoCode } from '../../lib/platform/libc.ts';
import { ROOT } from '../helpers/kernel.ts';
import { ARCHES, buildProbe, canTarget, compileC, compilerFor, type Probe, runnerFor } from '../helpers/probe.ts';
import { plainStat } from '../qjs/plain-stat.ts';

// What test/helpers/layout.c prints for each target (Debian 12: glibc 2.36, Linux 6.1 headers).
const GENERIC_NETLINK = { nlmsghdr: 16, nlmsgerr: 20, ifinfomsg: 16, ifaddrmsg: 8, rtmsg: 12, rtattr: 4, sockaddr_nl: 12 };
const ERRNOS = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EMFILE: 24,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EPIPE: 32,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOTEMPTY: 39,
  ELOOP: 40,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ENOBUFS: 105,
  EDQUOT: 122,
};
const SHARED = {
  statfs: { bytes: 120, type: 0, typeBytes: 8 },
  ifreq: { bytes: 40, name: 0, nameBytes: 16, ifindex: 16 },
  socket: {
    AF_UNIX: 1,
    AF_NETLINK: 16,
    SOCK_STREAM: 1,
    SOCK_RAW: 3,
    SOCK_CLOEXEC: 524288,
    MSG_DONTWAIT: 64,
    MSG_NOSIGNAL: 16384,
    SOL_NETLINK: 270,
    NETLINK_ROUTE: 0,
    NETLINK_EXT_ACK: 11,
    NETLINK_GET_STRICT_CHK: 12,
    NETLINK_NETFILTER: 12,
    NETLINK_CAP_ACK: 10,
    SOL_SOCKET: 1,
    SO_RCVTIMEO: 20,
  },
  timeval: { bytes: 16, sec: 0, usec: 8, secBytes: 8, usecBytes: 8 },
  ioctl: { SIOCGIFNAME: 35088, SIOCGIFINDEX: 35123 },
  misc: { CLONE_NEWNET: 1073741824, LOCK_EX: 2, LOCK_NB: 4 },
  netlink: GENERIC_NETLINK,
  errno: ERRNOS,
};
const WIDTHS = { devBytes: 8, inoBytes: 8, modeBytes: 4, sizeBytes: 8 };
const FROM_HEADERS: Record<Arch, Record<string, Record<string, number>>> = {
  amd64: {
    ...SHARED,
    stat: { bytes: 144, dev: 0, ino: 8, mode: 24, size: 48, mtimeSec: 88, mtimeNsec: 96, ...WIDTHS },
    open: {
      O_RDONLY: 0,
      O_WRONLY: 1,
      O_RDWR: 2,
      O_CREAT: 64,
      O_EXCL: 128,
      O_TRUNC: 512,
      O_DIRECTORY: 65536,
      O_NOFOLLOW: 131072,
      O_CLOEXEC: 524288,
    },
  },
  arm64: {
    ...SHARED,
    stat: { bytes: 128, dev: 0, ino: 8, mode: 16, size: 48, mtimeSec: 88, mtimeNsec: 96, ...WIDTHS },
    open: {
      O_RDONLY: 0,
      O_WRONLY: 1,
      O_RDWR: 2,
      O_CREAT: 64,
      O_EXCL: 128,
      O_TRUNC: 512,
      O_DIRECTORY: 16384,
      O_NOFOLLOW: 32768,
      O_CLOEXEC: 524288,
    },
  },
};

/** The header facts lib/platform/arch.ts's Layout holds (the rest is checked elsewhere). */
function layoutPart(facts: Record<string, Record<string, number>>): Layout {
  const { typeBytes: _t, ...statfs } = facts.statfs!;
  const { devBytes: _d, inoBytes: _i, modeBytes: _m, sizeBytes: _s, ...stat } = facts.stat!;
  const { secBytes: _sb, usecBytes: _ub, ...timeval } = facts.timeval!;
  const { ifreq, open, socket, ioctl, misc } = facts;
  return { stat, statfs, ifreq, open, socket, timeval, ioctl, misc } as unknown as Layout;
}

describe.each(ARCHES)('%s layouts', (arch) => {
  it('lib/platform/arch.ts matches the C headers', () => {
    expect(LAYOUTS[arch]).toEqual(layoutPart(FROM_HEADERS[arch]));
  });

  it('the field widths lib/platform/fs.ts reads, the netlink structures and the errno numbers are the generic ones', () => {
    // lib/platform/fs.ts reads dev/ino as u64, mode as u32, size and times as i64; statfs f_type as i64.
    expect(FROM_HEADERS[arch].stat).toMatchObject(WIDTHS);
    expect(FROM_HEADERS[arch].statfs!.typeBytes).toBe(8);
    expect(FROM_HEADERS[arch].timeval).toMatchObject({ secBytes: 8, usecBytes: 8 }); // written as two i64
    // lib/kernel/netlink-codec.ts writes these structures with fixed sizes on every target.
    expect(FROM_HEADERS[arch].netlink).toEqual(GENERIC_NETLINK);
    // lib/platform/libc.ts's errno table: one numbering for every target.
    for (const [name, value] of Object.entries(FROM_HEADERS[arch].errno!)) expect(errnoCode(value)).toBe(name);
  });

  it.skipIf(!compilerFor(arch) || !runnerFor(arch))("the pinned facts are what this target's compiler says", () => {
    const dir = mkdtempSync(join(tmpdir(), 'cnits-layout-'));
    try {
      const exe = compileC(join(ROOT, 'test', 'helpers', 'layout.c'), arch, dir, `layout-${arch}`);
      const [file, ...args] = [...runnerFor(arch)!, exe];
      expect(JSON.parse(execFileSync(file!, args, { encoding: 'utf8' }))).toEqual(FROM_HEADERS[arch]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The executable built for each target, doing its file and interface calls on this kernel.
describe.each(ARCHES.filter(canTarget))('%s standalone runtime', (arch) => {
  let probe: Probe;
  let dir: string;
  beforeAll(async () => {
    probe = await buildProbe(arch);
    dir = mkdtempSync(join(tmpdir(), 'cnits-arch-'));
    writeFileSync(join(dir, 'file'), 'twelve bytes');
    symlinkSync('file', join(dir, 'link'));
  }, 300_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (probe) rmSync(join(probe.exe, '..'), { recursive: true, force: true });
  });

  it('stat, lstat and statfs read the same values node:fs reads', () => {
    const paths = [join(dir, 'file'), join(dir, 'link'), dir, '/dev/null', '/proc/self/ns/net', join(dir, 'absent')];
    const got = probe.run<any[]>('stat', paths);
    const node = (fn: () => unknown) => {
      try {
        return fn();
      } catch (e) {
        return { error: (e as NodeJS.ErrnoException).code };
      }
    };
    paths.forEach((path, i) => {
      // /proc/self is the probe itself there, the test runner here: its namespace file differs only in ino/mtime.
      const self = path.startsWith('/proc/self');
      const want = {
        stat: node(() => plainStat(statSync(path))),
        lstat: node(() => plainStat(lstatSync(path))),
        statfs: node(() => statfsSync(path).type),
      };
      if (self) {
        expect(got[i].stat).toMatchObject({ dev: (want.stat as any).dev, mode: (want.stat as any).mode, file: true });
        expect(got[i].statfs).toBe(0x6e736673); // nsfs: lib/kernel/netns.ts's test of a namespace path
      } else {
        // Sub-microsecond digits of mtimeMs may differ in the last bit of a double.
        for (const k of ['stat', 'lstat'] as const)
          if ('mtimeMs' in (want[k] as object)) (want[k] as any).mtimeMs = expect.closeTo((want[k] as any).mtimeMs, 3);
        expect(got[i]).toEqual(want);
      }
    });
    expect(got[0].stat).toMatchObject({ size: 12, file: true });
    expect(got[1].lstat).toMatchObject({ link: true, size: 4 });
  });

  it('O_DIRECTORY and O_NOFOLLOW do what they say (their values differ between targets)', () => {
    expect(probe.run('open', [dir, 'O_RDONLY', 'O_DIRECTORY'])).toBe('ok');
    expect(probe.run('open', [join(dir, 'file'), 'O_RDONLY', 'O_DIRECTORY'])).toBe('ENOTDIR');
    expect(probe.run('open', [join(dir, 'file'), 'O_RDONLY', 'O_NOFOLLOW'])).toBe('ok');
    expect(probe.run('open', [join(dir, 'link'), 'O_RDONLY', 'O_NOFOLLOW'])).toBe('ELOOP');
    expect(probe.run('open', [join(dir, 'new'), 'O_WRONLY', 'O_CREAT', 'O_EXCL'])).toBe('ok');
    expect(probe.run('open', [join(dir, 'new'), 'O_WRONLY', 'O_CREAT', 'O_EXCL'])).toBe('EEXIST');
  });

  it('interface name ↔ index through the ioctl requests and struct ifreq', () => {
    expect(probe.run('ifindex', ['lo', 'cnits-none0'])).toEqual([
      [1, 'lo'],
      [null, null],
    ]);
  });
});
