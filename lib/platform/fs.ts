// The file system calls the plugins make (synchronous, and an asynchronous fdatasync), with
// node:fs's names and behaviour (errors carry `.code` such as 'ENOENT'). Under Node this is node:fs itself. In the standalone executable
// (QuickJS, which has no node:fs) the same calls are built on lib/platform/qjs/host.c's system call
// wrappers (lib/platform/libc.ts), with node:fs's error codes and messages; the structure layouts
// and flag values of the target architecture come from lib/platform/arch.ts.
import type * as NodeFs from 'node:fs';
import { type Layout, layout } from './arch.ts';
import { concatBytes } from './bytes.ts';
import { errnoCode, libc, uvText, cpath as z } from './libc.ts';

declare const require: (id: string) => unknown;

export interface Stat {
  dev: number;
  ino: number;
  mode: number;
  size: number;
  mtimeMs: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isCharacterDevice(): boolean;
  isSymbolicLink(): boolean;
}

/** A file's identity and change times to the nanosecond (node:fs's BigIntStats fields of the same names). */
export interface ExactTimes {
  dev: bigint;
  ino: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface Fs {
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number;
  /** At `position` when given (pwrite: the file offset does not move), else at the file offset. */
  writeSync(fd: number, data: Uint8Array | string, position?: number): number;
  openSync(path: string, flags: number | 'r', mode?: number): number;
  closeSync(fd: number): void;
  fdatasyncSync(fd: number): void;
  /** fdatasync(2) off the JavaScript thread (node:fs: libuv's pool; standalone: a thread of host.c). */
  fdatasync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void;
  ftruncateSync(fd: number, length: number): void;
  fstatSync(fd: number): Stat;
  statSync(path: string): Stat;
  lstatSync(path: string): Stat;
  statTimesSync(path: string): ExactTimes;
  /** Set the modification time (to the second: `seconds` is whole), leaving the access time as it is. */
  setMtimeSync(path: string, seconds: number): void;
  statfsSync(path: string): { type: number };
  readlinkSync(path: string): string;
  realpathSync(path: string): string;
  accessSync(path: string, mode: number): void;
  mkdirSync(path: string, opts: { recursive: true; mode: number }): void;
  readdirSync(path: string): string[];
  readFileSync(path: string, encoding: 'utf8'): string;
  linkSync(existing: string, path: string): void;
  unlinkSync(path: string): void;
}

/** The open(2) and access(2) flags the plugins use (node:fs's values under Node). */
export type FsConstants = Pick<Layout['open'], 'O_RDONLY' | 'O_WRONLY' | 'O_RDWR' | 'O_CREAT' | 'O_EXCL' | 'O_TRUNC'> & {
  X_OK: number;
  W_OK: number;
  R_OK: number;
};

function errnoError(errno: number, syscall: string, path?: string): NodeJS.ErrnoException {
  const code = errnoCode(errno);
  const e = new Error(`${code}: ${uvText(errno)}, ${syscall}${path === undefined ? '' : ` '${path}'`}`) as NodeJS.ErrnoException;
  e.code = code;
  e.errno = -errno;
  e.syscall = syscall;
  if (path !== undefined) e.path = path;
  return e;
}

const S_IFMT = 0o170000;
function statFrom(b: DataView): Stat {
  const { dev, ino, mode: modeAt, size, mtimeSec, mtimeNsec } = layout.stat;
  const mode = b.getUint32(modeAt, true);
  const type = mode & S_IFMT;
  return {
    dev: Number(b.getBigUint64(dev, true)),
    ino: Number(b.getBigUint64(ino, true)),
    mode,
    size: Number(b.getBigInt64(size, true)),
    mtimeMs: Number(b.getBigInt64(mtimeSec, true)) * 1000 + Number(b.getBigInt64(mtimeNsec, true)) / 1e6,
    isFile: () => type === 0o100000,
    isDirectory: () => type === 0o040000,
    isCharacterDevice: () => type === 0o020000,
    isSymbolicLink: () => type === 0o120000,
  };
}

function libcFs(): Fs | undefined {
  const c = libc();
  if (!c) return undefined;
  const errno = c.errno;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const check = (r: number, syscall: string, path?: string): number => {
    if (r < 0) throw errnoError(errno(), syscall, path);
    return r;
  };
  const statBuf = new Uint8Array(layout.stat.bytes);
  const statView = new DataView(statBuf.buffer);
  const pathBuf = new Uint8Array(4097);
  const readBuf = new Uint8Array(65536);

  const fs: Fs = {
    readSync: (fd, buf, offset, length, position) => {
      const target = buf.subarray(offset, offset + length);
      return check(position === null ? c.read(fd, target, length) : c.pread(fd, target, length, position), 'read');
    },
    writeSync: (fd, data, position) => {
      const bytes = typeof data === 'string' ? encoder.encode(data) : data;
      return check(position === undefined ? c.write(fd, bytes, bytes.length) : c.pwrite(fd, bytes, bytes.length, position), 'write');
    },
    openSync: (path, flags, mode = 0o666) =>
      check(c.open(z(path), (flags === 'r' ? layout.open.O_RDONLY : flags) | layout.open.O_CLOEXEC, mode), 'open', path),
    closeSync: (fd) => void check(c.close(fd), 'close'),
    fdatasyncSync: (fd) => void check(c.fdatasync(fd), 'fdatasync'),
    fdatasync: (fd, callback) => {
      const flush = (c as { fdatasyncAsync?: (fd: number) => Promise<number> }).fdatasyncAsync;
      if (!flush) return callback(c.fdatasync(fd) < 0 ? errnoError(errno(), 'fdatasync') : null);
      void flush(fd).then((err) => callback(err ? errnoError(err, 'fdatasync') : null));
    },
    ftruncateSync: (fd, length) => void check(c.ftruncate(fd, length), 'ftruncate'),
    fstatSync: (fd) => {
      check(c.fstat(fd, statBuf), 'fstat');
      return statFrom(statView);
    },
    statSync: (path) => {
      check(c.stat(z(path), statBuf), 'stat', path);
      return statFrom(statView);
    },
    lstatSync: (path) => {
      check(c.lstat(z(path), statBuf), 'lstat', path);
      return statFrom(statView);
    },
    statTimesSync: (path) => {
      check(c.stat(z(path), statBuf), 'stat', path);
      const ns = (at: number): bigint => statView.getBigInt64(at, true) * 1_000_000_000n + statView.getBigInt64(at + 8, true);
      return { dev: statView.getBigUint64(0, true), ino: statView.getBigUint64(8, true), mtimeNs: ns(88), ctimeNs: ns(104) };
    },
    setMtimeSync: (path, seconds) => void check(c.utimensat(z(path), seconds, 0), 'utime', path),
    statfsSync: (path) => {
      const b = new Uint8Array(layout.statfs.bytes);
      check(c.statfs(z(path), b), 'statfs', path);
      return { type: Number(new DataView(b.buffer).getBigInt64(layout.statfs.type, true)) };
    },
    readlinkSync: (path) => {
      const n = check(c.readlink(z(path), pathBuf, 4096), 'readlink', path);
      return decoder.decode(pathBuf.subarray(0, n));
    },
    realpathSync: (path) => {
      check(c.realpath(z(path), pathBuf), 'realpath', path);
      return decoder.decode(pathBuf.subarray(0, pathBuf.indexOf(0)));
    },
    accessSync: (path, mode) => void check(c.access(z(path), mode), 'access', path),
    mkdirSync: (path, opts) => {
      // mkdir -p: the directory itself first (it usually exists, or only it is missing), then its
      // parents if they are missing (ENOENT); an existing directory is fine.
      const make = (dir: string): void => {
        if (c.mkdir(z(dir), opts.mode) === 0) return;
        const e = errno();
        if (e === 2 /* ENOENT */ && dir.lastIndexOf('/') > 0) {
          make(dir.slice(0, dir.lastIndexOf('/')));
          if (c.mkdir(z(dir), opts.mode) === 0) return;
          const again = errno();
          if (again !== 17) throw errnoError(again, 'mkdir', dir);
        } else if (e !== 17 /* EEXIST */) throw errnoError(e, 'mkdir', dir);
        if (!fs.statSync(dir).isDirectory()) throw errnoError(17, 'mkdir', dir);
      };
      make(path.length > 1 ? path.replace(/\/+$/, '') : path);
    },
    readdirSync: (path) => {
      const names = c.readdir(z(path));
      if (!names) throw errnoError(errno(), 'scandir', path); // node:fs's syscall name
      return names;
    },
    readFileSync: (path) => {
      const fd = fs.openSync(path, 0);
      try {
        // One scratch buffer for every call (synchronous, so never shared): most files read here
        // are a few bytes, and a fresh 64 KiB buffer per file was most of the cost of reading hundreds.
        const chunks: Uint8Array[] = [];
        for (;;) {
          const n = fs.readSync(fd, readBuf, 0, readBuf.length, null);
          if (n <= 0) break;
          chunks.push(readBuf.slice(0, n));
        }
        return decoder.decode(chunks.length === 1 ? chunks[0]! : concatBytes(chunks));
      } finally {
        c.close(fd);
      }
    },
    linkSync: (existing, path) => void check(c.link(z(existing), z(path)), 'link', path),
    unlinkSync: (path) => void check(c.unlink(z(path)), 'unlink', path),
  };
  return fs;
}

function nodeFs(): Fs {
  const fs = (process.getBuiltinModule?.('node:fs') ?? require('node:fs')) as typeof NodeFs;
  return {
    ...(fs as unknown as Fs),
    statTimesSync: (path) => fs.statSync(path, { bigint: true }),
    setMtimeSync: (path, seconds) => fs.utimesSync(path, fs.statSync(path).atime, seconds),
  };
}

export const fs: Fs = libcFs() ?? nodeFs();
export const constants: FsConstants = libc()
  ? { ...layout.open, X_OK: 1, W_OK: 2, R_OK: 4 }
  : (nodeFs() as unknown as { constants: FsConstants }).constants;
export const {
  readSync,
  writeSync,
  openSync,
  closeSync,
  fdatasyncSync,
  ftruncateSync,
  fstatSync,
  statSync,
  lstatSync,
  statTimesSync,
  setMtimeSync,
  statfsSync,
  readlinkSync,
  realpathSync,
  accessSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  linkSync,
  unlinkSync,
} = fs;

/** fdatasync(2) without blocking: other work runs while the disk flushes. */
export const fdatasyncAsync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
