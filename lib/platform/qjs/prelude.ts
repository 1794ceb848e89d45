// The runtime surface the plugins use, built for the standalone executable (QuickJS +
// lib/platform/qjs/host.c) before any plugin module runs: `process`, TextEncoder/TextDecoder,
// crypto.getRandomValues, setTimeout, and a child-process runner for lib/platform/exec.ts. Only what our
// code calls, with Node's semantics for those calls. lib/platform/qjs/host.c evaluates it before any plugin module.
import * as os from 'qjs:os';
import { concatBytes } from '../bytes.ts';
import type { Libc } from '../libc.ts';

/** lib/platform/qjs/host.c's native object: the `Libc` calls plus the few runtime services below. */
export interface Host extends Libc {
  execPath: string;
  pid: number;
  socketpair(domain: number, type: number, protocol: number, fds: Int32Array): number;
  getrandom(buf: Uint8Array): void;
  utf8Encode(text: string): ArrayBuffer;
  utf8Decode(bytes: Uint8Array, fatal: boolean): string;
  hexDigest(algorithm: string, text: string): string;
  environ(): Record<string, string>;
  exit(code: number): never;
  spawn?: HostSpawn;
  /** fdatasync(2) off the JavaScript thread (below): resolves with its errno, 0 when the data is on disk. */
  fdatasyncAsync?: (fd: number) => Promise<number>;
}

export interface SpawnResult {
  code: number;
  stdout: string;
  stderr: string;
}
export type HostSpawn = (
  file: string,
  args: readonly string[],
  opts: { input?: Uint8Array; env: Record<string, string | undefined>; onStderr?: (text: string) => void },
) => Promise<SpawnResult>;

declare const scriptArgs: string[];
const host = (globalThis as unknown as { __cniHost: Host }).__cniHost;

class TextEncoderShim {
  readonly encoding = 'utf-8';
  encode(text = ''): Uint8Array {
    return new Uint8Array(host.utf8Encode(String(text)));
  }
}

class TextDecoderShim {
  readonly encoding = 'utf-8';
  readonly fatal: boolean;
  constructor(label = 'utf-8', opts: { fatal?: boolean } = {}) {
    if (!/^utf-?8$/i.test(label)) throw new RangeError(`unsupported encoding: ${label}`);
    this.fatal = opts.fatal === true;
  }
  decode(input?: ArrayBuffer | ArrayBufferView): string {
    if (input === undefined) return '';
    const bytes =
      input instanceof Uint8Array
        ? input
        : ArrayBuffer.isView(input)
          ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
          : new Uint8Array(input);
    return host.utf8Decode(bytes, this.fatal);
  }
}

interface ProcessShim {
  env: Record<string, string | undefined>;
  argv: string[];
  argv0: string;
  execPath: string;
  pid: number;
  platform: 'linux';
  versions: Record<string, string>;
  exitCode: number | undefined;
  exit(code?: number): never;
}

// argv as Node lays it out ([runtime, invoked path, ...arguments]; lib/cni/delegate.ts compares argv[1]).
const proc: ProcessShim = {
  env: host.environ(),
  argv: [host.execPath, ...scriptArgs],
  argv0: scriptArgs[0] ?? host.execPath,
  execPath: host.execPath,
  pid: host.pid,
  platform: 'linux',
  versions: { quickjs: '2025-04-26' },
  exitCode: undefined,
  exit(code?: number): never {
    return host.exit(code ?? proc.exitCode ?? 0);
  },
};

const g = globalThis as Record<string, unknown>;
g.process = proc;
g.TextEncoder = TextEncoderShim;
g.TextDecoder = TextDecoderShim;
g.crypto = {
  getRandomValues<T extends ArrayBufferView>(array: T): T {
    host.getrandom(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    return array;
  },
};
g.setTimeout = (fn: () => void, ms = 0) => os.setTimeout(fn, ms);
g.clearTimeout = (handle: unknown) => os.clearTimeout(handle);

const AF_UNIX = 1;
const SOCK_STREAM_CLOEXEC = 1 | 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const EAGAIN = 11;

/** Read `fd` to its end through the event loop; resolves with the text. */
function drain(fd: number, onChunk?: (text: string) => void): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    const buf = new ArrayBuffer(65536);
    os.setReadHandler(fd, () => {
      const n = os.read(fd, buf, 0, buf.byteLength);
      if (n > 0) {
        const chunk = new Uint8Array(buf.slice(0, n));
        chunks.push(chunk);
        onChunk?.(host.utf8Decode(chunk, false));
        return;
      }
      if (n === -EAGAIN) return;
      os.setReadHandler(fd, null);
      os.close(fd);
      resolve(host.utf8Decode(concatBytes(chunks), false));
    });
  });
}

/**
 * Feed `input` to the child's stdin. A socket rather than a pipe: send(MSG_NOSIGNAL) reports a
 * child that stopped reading as an error instead of killing us with SIGPIPE.
 */
function feed(fd: number, input: Uint8Array): void {
  let off = 0;
  const finish = () => {
    os.setWriteHandler(fd, null);
    os.close(fd);
  };
  if (input.length === 0) {
    finish();
    return;
  }
  os.setWriteHandler(fd, () => {
    const n = host.send(fd, input.subarray(off), input.length - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && host.errno() === EAGAIN) return;
    if (n < 0) return finish(); // EPIPE: the child exited without reading everything
    off += n;
    if (off >= input.length) finish();
  });
}

/** Child-process runner for lib/platform/exec.ts: argument array (no shell), env, stdin from memory. */
const spawn: HostSpawn = async (file, args, opts) => {
  const out = os.pipe();
  const err = os.pipe();
  let stdin: number;
  let feedFd = -1;
  if (opts.input !== undefined) {
    const fds = new Int32Array(2);
    if (host.socketpair(AF_UNIX, SOCK_STREAM_CLOEXEC, 0, fds) < 0)
      return { code: 127, stdout: '', stderr: `socketpair failed (errno ${host.errno()})` };
    [feedFd, stdin] = [fds[0]!, fds[1]!];
  } else {
    stdin = os.open('/dev/null', os.O_RDONLY);
  }
  if (!out || !err || stdin < 0) return { code: 127, stdout: '', stderr: 'cannot create pipes' };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  let pid: number;
  try {
    pid = os.exec([file, ...args], { block: false, usePath: !file.includes('/'), stdin, stdout: out[1], stderr: err[1], env });
  } catch (e) {
    for (const fd of [out[0], out[1], err[0], err[1], stdin, feedFd]) if (fd >= 0) os.close(fd);
    return { code: 127, stdout: '', stderr: (e as Error).message };
  }
  os.close(out[1]);
  os.close(err[1]);
  os.close(stdin);
  if (feedFd >= 0) feed(feedFd, opts.input!);
  const [stdout, stderr] = await Promise.all([drain(out[0]), drain(err[0], opts.onStderr)]);
  const [, status] = os.waitpid(pid, 0); // both pipes are at EOF: the child has exited or is exiting
  const signalled = (status & 0x7f) !== 0;
  return { code: signalled ? 128 : (status >> 8) & 0xff, stdout, stderr };
};
host.spawn = spawn;

/** host.c's fdatasyncStart, awaited through the event loop; a flush that could not start runs in line. */
host.fdatasyncAsync = (fd) => {
  const done = host.fdatasyncStart(fd);
  if (done < 0) return Promise.resolve(host.fdatasync(fd) < 0 ? host.errno() : 0);
  return new Promise((resolve) => {
    os.setReadHandler(done, () => {
      const result = new Int32Array(1);
      const n = os.read(done, result.buffer, 0, 4);
      os.setReadHandler(done, null);
      os.close(done);
      resolve(n === 4 ? result[0]! : 5 /* EIO: the thread ended without a word */);
    });
  });
};
