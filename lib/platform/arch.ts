// Everything the standalone executable passes to or reads from the C library that is defined per
// CPU architecture, for each architecture it is built for, in this one place: structure layouts
// (byte offsets) and flag values. The rest of lib/ reads them from `layout`, never writes a number
// of its own.
//
// The standalone build (scripts/build-standalone.mjs) defines CNI_TS_ARCH ("amd64", "arm64") for
// the target it compiles, so the executable carries its target's table at no run-time cost. The
// Node bundles run on whatever machine has Node: there, and in the tests, `layout` is the machine's
// own (process.arch); node:fs takes the open flags and reads the layouts itself.
//
// Where the two differ: struct stat (x86-64 keeps the old 64-bit layout with st_nlink before
// st_mode; arm64 uses the kernel's generic one: st_mode at 16, 128 bytes) and O_DIRECTORY /
// O_NOFOLLOW (x86-64 0o200000 / 0o400000, arm64 0o40000 / 0o100000). The rest is the same on both
// (the generic Linux values), listed so that a new architecture gets checked field by field.
// test/unit/arch.test.ts compares every value with what each target's C compiler says
// (test/helpers/layout.c) and runs each executable's file calls against the real kernel.

export type Arch = 'amd64' | 'arm64';

export interface Layout {
  /** struct stat: its size and byte offsets (dev, ino: u64; mode: u32; size: i64; timespec: 2 × i64). */
  stat: { bytes: number; dev: number; ino: number; mode: number; size: number; mtimeSec: number; mtimeNsec: number };
  /** struct statfs: its size and the offset of f_type (a 64-bit word). */
  statfs: { bytes: number; type: number };
  /** struct ifreq: its size, the name (IFNAMSIZ bytes) and ifr_ifindex (i32). */
  ifreq: { bytes: number; name: number; nameBytes: number; ifindex: number };
  open: {
    O_RDONLY: number;
    O_WRONLY: number;
    O_RDWR: number;
    O_CREAT: number;
    O_EXCL: number;
    O_TRUNC: number;
    O_DIRECTORY: number;
    O_NOFOLLOW: number;
    O_CLOEXEC: number;
  };
  socket: {
    AF_UNIX: number;
    AF_NETLINK: number;
    SOCK_STREAM: number;
    SOCK_RAW: number;
    SOCK_CLOEXEC: number;
    MSG_DONTWAIT: number;
    MSG_NOSIGNAL: number;
    SOL_NETLINK: number;
    NETLINK_ROUTE: number;
    NETLINK_EXT_ACK: number;
    NETLINK_GET_STRICT_CHK: number;
    NETLINK_NETFILTER: number;
    NETLINK_CAP_ACK: number;
    SOL_SOCKET: number;
    SO_RCVTIMEO: number;
  };
  /** struct timeval (SO_RCVTIMEO's value): its size, seconds and microseconds (both 64-bit here). */
  timeval: { bytes: number; sec: number; usec: number };
  ioctl: { SIOCGIFNAME: number; SIOCGIFINDEX: number };
  misc: { CLONE_NEWNET: number; LOCK_EX: number; LOCK_NB: number };
}

const GENERIC_SOCKET: Layout['socket'] = {
  AF_UNIX: 1,
  AF_NETLINK: 16,
  SOCK_STREAM: 1,
  SOCK_RAW: 3,
  SOCK_CLOEXEC: 0o2000000,
  MSG_DONTWAIT: 0x40,
  MSG_NOSIGNAL: 0x4000,
  SOL_NETLINK: 270,
  NETLINK_ROUTE: 0,
  NETLINK_EXT_ACK: 11,
  NETLINK_GET_STRICT_CHK: 12,
  NETLINK_NETFILTER: 12,
  NETLINK_CAP_ACK: 10,
  SOL_SOCKET: 1,
  SO_RCVTIMEO: 20,
};
const TIMEVAL_64: Layout['timeval'] = { bytes: 16, sec: 0, usec: 8 };
const GENERIC_IFREQ: Layout['ifreq'] = { bytes: 40, name: 0, nameBytes: 16, ifindex: 16 };
const GENERIC_IOCTL: Layout['ioctl'] = { SIOCGIFNAME: 0x8910, SIOCGIFINDEX: 0x8933 };
const GENERIC_MISC: Layout['misc'] = { CLONE_NEWNET: 0x40000000, LOCK_EX: 2, LOCK_NB: 4 };
const GENERIC_OPEN = { O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CREAT: 0o100, O_EXCL: 0o200, O_TRUNC: 0o1000, O_CLOEXEC: 0o2000000 };

export const LAYOUTS: Record<Arch, Layout> = {
  amd64: {
    stat: { bytes: 144, dev: 0, ino: 8, mode: 24, size: 48, mtimeSec: 88, mtimeNsec: 96 },
    statfs: { bytes: 120, type: 0 },
    ifreq: GENERIC_IFREQ,
    open: { ...GENERIC_OPEN, O_DIRECTORY: 0o200000, O_NOFOLLOW: 0o400000 },
    socket: GENERIC_SOCKET,
    timeval: TIMEVAL_64,
    ioctl: GENERIC_IOCTL,
    misc: GENERIC_MISC,
  },
  arm64: {
    stat: { bytes: 128, dev: 0, ino: 8, mode: 16, size: 48, mtimeSec: 88, mtimeNsec: 96 },
    statfs: { bytes: 120, type: 0 },
    ifreq: GENERIC_IFREQ,
    open: { ...GENERIC_OPEN, O_DIRECTORY: 0o40000, O_NOFOLLOW: 0o100000 },
    socket: GENERIC_SOCKET,
    timeval: TIMEVAL_64,
    ioctl: GENERIC_IOCTL,
    misc: GENERIC_MISC,
  },
};

/** Node's name of a CPU architecture → ours (the release archives' and Go's names). */
export function archOfNode(nodeArch: string): Arch | undefined {
  return nodeArch === 'x64' ? 'amd64' : nodeArch === 'arm64' ? 'arm64' : undefined;
}

declare const CNI_TS_ARCH: Arch | undefined;

/** The architecture this code runs on: the standalone build's target, else the machine's. */
export const ARCH: Arch =
  typeof CNI_TS_ARCH === 'string'
    ? CNI_TS_ARCH
    : (archOfNode((globalThis as { process?: { arch?: string } }).process?.arch ?? '') ?? 'amd64');

export const layout: Layout = LAYOUTS[ARCH];
