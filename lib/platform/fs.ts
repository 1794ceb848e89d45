// The file system calls the plugins make (synchronous, and an asynchronous fdatasync), with
// node:fs's names and behaviour (errors carry `.code` such as 'ENOENT'). Under Node this is node:fs itself. In the standalone executable
// (QuickJS, which has no node:fs) the same calls are built on lib/platform/qjs/host.c's system call
// wrappers (lib/platform/libc.ts), with node:fs's error codes and messages. (Linux x86-64 glibc layouts.)
import type * as NodeFs from 'node:fs';
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

export interface Fs {
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number;
  writeSync(fd: number, data: Uint8Array | string): number;
  openSync(path: string, flags: number | 'r', mode?: number): number;
  closeSync(fd: number): void;
  fdatasyncSync(fd: number): void;
  /** fdatasync(2) off the JavaScript thread (node:fs: libuv's pool; standalone: a thread of host.c). */
  fdatasync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void;
  ftruncateSync(fd: number, length: number): void;
  fstatSync(fd: number): Stat;
  statSync(path: string): Stat;
  lstatSync(path: string): Stat;
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

export const constants = {
  O_RDONLY: 0,
  O_WRONLY: 1,
  O_RDWR: 2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_TRUNC: 0o1000,
  X_OK: 1,
  W_OK: 2,
  R_OK: 4,
} as const;

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
  const mode = b.getUint32(24, true);
  const type = mode & S_IFMT;
  return {
    dev: Number(b.getBigUint64(0, true)),
    ino: Number(b.getBigUint64(8, true)),
    mode,
    size: Number(b.getBigInt64(48, true)),
    mtimeMs: Number(b.getBigInt64(88, true)) * 1000 + Number(b.getBigInt64(96, true)) / 1e6,
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
  const statBuf = new Uint8Array(144);
  const statView = new DataView(statBuf.buffer);
  const pathBuf = new Uint8Array(4097);

  const fs: Fs = {
    readSync: (fd, buf, offset, length, position) => {
      const target = buf.subarray(offset, offset + length);
      return check(position === null ? c.read(fd, target, length) : c.pread(fd, target, length, position), 'read');
    },
    writeSync: (fd, data) => {
      const bytes = typeof data === 'string' ? encoder.encode(data) : data;
      return check(c.write(fd, bytes, bytes.length), 'write');
    },
    openSync: (path, flags, mode = 0o666) =>
      check(c.open(z(path), (flags === 'r' ? 0 : flags) | 0o2000000 /* O_CLOEXEC */, mode), 'open', path),
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
    statfsSync: (path) => {
      const b = new BigInt64Array(15);
      check(c.statfs(z(path), b), 'statfs', path);
      return { type: Number(b[0]) };
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
      // mkdir -p: create missing parents first; an existing directory is fine.
      const parts = path.split('/');
      for (let i = path.startsWith('/') ? 2 : 1; i <= parts.length; i++) {
        const prefix = parts.slice(0, i).join('/');
        if (!prefix) continue;
        if (c.mkdir(z(prefix), opts.mode) === 0) continue;
        const e = errno();
        if (e !== 17 /* EEXIST */) throw errnoError(e, 'mkdir', prefix);
        if (i === parts.length && !fs.statSync(prefix).isDirectory()) throw errnoError(17, 'mkdir', prefix);
      }
    },
    readdirSync: (path) => {
      const names = c.readdir(z(path));
      if (!names) throw errnoError(errno(), 'scandir', path); // node:fs's syscall name
      return names;
    },
    readFileSync: (path) => {
      const fd = fs.openSync(path, 0);
      try {
        const chunks: Uint8Array[] = [];
        const buf = new Uint8Array(65536);
        for (;;) {
          const n = fs.readSync(fd, buf, 0, buf.length, null);
          if (n <= 0) break;
          chunks.push(buf.slice(0, n));
        }
        return decoder.decode(concatBytes(chunks));
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
  return fs as unknown as Fs;
}

export const fs: Fs = libcFs() ?? nodeFs();
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
