// The C functions the plugins call directly: lib/platform/fs.ts (file calls), lib/kernel/netlink.ts (sockets,
// namespaces) and lib/platform/lock.ts (flock). In the standalone executable they are lib/platform/qjs/host.c's
// thin wrappers (`globalThis.__cniHost`). Under Node `libc()` is null and callers use node:fs,
// `ip`/`nsenter` processes and flock(1) instead. Layouts and flag values: lib/platform/arch.ts.

/** Raw calls: a negative (or null) result means failure, the reason is `errno()`. */
export interface Libc {
  open(path: Uint8Array, flags: number, mode: number): number;
  close(fd: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  pread(fd: number, buf: Uint8Array, len: number, offset: number): number;
  write(fd: number, buf: Uint8Array, len: number): number;
  pwrite(fd: number, buf: Uint8Array, len: number, offset: number): number;
  fdatasync(fd: number): number;
  /** fdatasync(2) on a thread: a pipe's read end, readable with the errno (0: done) as an int when it ends; -1 if not started. */
  fdatasyncStart(fd: number): number;
  ftruncate(fd: number, length: number): number;
  fstat(fd: number, buf: Uint8Array): number;
  stat(path: Uint8Array, buf: Uint8Array): number;
  lstat(path: Uint8Array, buf: Uint8Array): number;
  statfs(path: Uint8Array, buf: Uint8Array): number;
  readlink(path: Uint8Array, buf: Uint8Array, len: number): number;
  /** 0 with the resolved path NUL-terminated in `buf` (4097 bytes), or -1. */
  realpath(path: Uint8Array, buf: Uint8Array): number;
  access(path: Uint8Array, mode: number): number;
  mkdir(path: Uint8Array, mode: number): number;
  /** The names in a directory without "." and "..", or null. */
  readdir(path: Uint8Array): string[] | null;
  link(existing: Uint8Array, path: Uint8Array): number;
  unlink(path: Uint8Array): number;
  /** utimensat(2) at the current directory: the modification time set, the access time left as it is (UTIME_OMIT). */
  utimensat(path: Uint8Array, mtimeSec: number, mtimeNsec: number): number;
  /** flock(2); a blocking request gives up after `timeoutMs` (> 0), failing with EINTR. */
  flock(fd: number, op: number, timeoutMs: number): number;
  socket(domain: number, type: number, protocol: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  setns(fd: number, nstype: number): number;
  ioctl(fd: number, request: number, arg: Uint8Array): number;
  errno(): number;
}

/** lib/platform/qjs/host.c's wrappers in the standalone executable; null under Node. */
export function libc(): Libc | null {
  return (globalThis as { __cniHost?: Libc }).__cniHost ?? null;
}

/** A path or name as a NUL-terminated C string. */
export const cpath = (p: string): Uint8Array => new TextEncoder().encode(`${p}\0`);

// errno → [code, strerror(3) text (iproute2's messages), libuv text (node:fs's messages)]. The
// numbers are the generic Linux ones, the same on every architecture lib/platform/arch.ts lists
// (test/unit/arch.test.ts checks them against each target's headers).
/** The errno values the code tests for by name (the same numbers on every Linux target we build for). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  EAGAIN: 11,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
} as const;

const ERRNOS: Record<number, [string, string, string]> = {
  1: ['EPERM', 'Operation not permitted', 'operation not permitted'],
  2: ['ENOENT', 'No such file or directory', 'no such file or directory'],
  3: ['ESRCH', 'No such process', 'no such process'],
  4: ['EINTR', 'Interrupted system call', 'interrupted system call'],
  5: ['EIO', 'Input/output error', 'i/o error'],
  9: ['EBADF', 'Bad file descriptor', 'bad file descriptor'],
  11: ['EAGAIN', 'Resource temporarily unavailable', 'resource temporarily unavailable'],
  12: ['ENOMEM', 'Cannot allocate memory', 'not enough memory'],
  13: ['EACCES', 'Permission denied', 'permission denied'],
  16: ['EBUSY', 'Device or resource busy', 'resource busy or locked'],
  17: ['EEXIST', 'File exists', 'file already exists'],
  18: ['EXDEV', 'Invalid cross-device link', 'cross-device link not permitted'],
  19: ['ENODEV', 'No such device', 'no such device'],
  20: ['ENOTDIR', 'Not a directory', 'not a directory'],
  21: ['EISDIR', 'Is a directory', 'illegal operation on a directory'],
  22: ['EINVAL', 'Invalid argument', 'invalid argument'],
  24: ['EMFILE', 'Too many open files', 'too many open files'],
  27: ['EFBIG', 'File too large', 'file too large'],
  28: ['ENOSPC', 'No space left on device', 'no space left on device'],
  30: ['EROFS', 'Read-only file system', 'read-only file system'],
  32: ['EPIPE', 'Broken pipe', 'broken pipe'],
  34: ['ERANGE', 'Numerical result out of range', 'result too large'],
  36: ['ENAMETOOLONG', 'File name too long', 'name too long'],
  39: ['ENOTEMPTY', 'Directory not empty', 'directory not empty'],
  40: ['ELOOP', 'Too many levels of symbolic links', 'too many symbolic links encountered'],
  93: ['EPROTONOSUPPORT', 'Protocol not supported', 'protocol not supported'],
  95: ['EOPNOTSUPP', 'Operation not supported', 'operation not supported on socket'],
  99: ['EADDRNOTAVAIL', 'Cannot assign requested address', 'address not available'],
  101: ['ENETUNREACH', 'Network is unreachable', 'network is unreachable'],
  105: ['ENOBUFS', 'No buffer space available', 'no buffer space available'],
  122: ['EDQUOT', 'Disk quota exceeded', 'disk quota exceeded'],
};

export const errnoCode = (e: number): string => ERRNOS[e]?.[0] ?? `E${e}`;
export const strerror = (e: number): string => ERRNOS[e]?.[1] ?? `errno ${e}`;
export const uvText = (e: number): string => ERRNOS[e]?.[2] ?? `errno ${e}`;
