// An exclusive flock(2) lock, compatible with the reference host-local (which flocks
// <dataDir>/<network>/lock). Node has no flock, so a short-lived `flock -x 3` child locks the open
// file description it inherits from us: the lock then lives exactly as long as our descriptor
// stays open, and dies with our process, so a crash can never leave a stale lock behind.
// The standalone executable calls flock(2) itself (lib/qjs/host.c) and saves that process.
import { closeSync, constants, openSync } from './fs.ts';
import { CniError, ErrorCode } from './errors.ts';
import { run } from './exec.ts';
import { libc } from './libc.ts';

export const LOCK_WAIT_SECONDS = 60;

const LOCK_EX = 2;
const LOCK_NB = 4;
// Not node:timers/promises: loading it costs ~2 ms of the standalone build's start-up.
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** flock(2) in the standalone executable; undefined under Node. */
function nativeFlock(): ((fd: number, op: number) => number) | undefined {
  const c = libc();
  return c ? (fd, op) => c.flock(fd, op) : undefined; // not glibc or Node: flock(1)
}

/** Non-blocking attempts until the deadline (a blocking flock would stall the event loop for good). */
async function flockNative(flock: (fd: number, op: number) => number, fd: number, waitSeconds: number): Promise<boolean> {
  const deadline = Date.now() + waitSeconds * 1000;
  // Short pauses: under contention the lock changes hands every few ms (20 concurrent ADDs).
  for (let pause = 1; ; pause = Math.min(pause * 2, 4)) {
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pause);
  }
}

async function lockFd(fd: number, waitSeconds: number): Promise<{ ok: boolean; why: string }> {
  const flock = nativeFlock();
  if (flock) return { ok: await flockNative(flock, fd, waitSeconds), why: '' };
  const r = await run('flock', ['-x', '-w', String(waitSeconds), '3'], { extraFds: [fd] });
  return { ok: r.code === 0, why: r.stderr.trim().slice(0, 200) };
}

/**
 * Take the lock, run `fn`, release the lock (also when `fn` throws). `mode` applies when the
 * lock file is created (host-local passes the reference's 0750 so a shared store looks the same).
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T> | T, waitSeconds = LOCK_WAIT_SECONDS, mode = 0o600): Promise<T> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_CREAT, mode);
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot open lock file ${path}`, (e as Error).message);
  }
  try {
    const locked = await lockFd(fd, waitSeconds);
    if (!locked.ok) {
      throw new CniError(ErrorCode.TryAgainLater, `timed out after ${waitSeconds}s waiting for lock ${path}`, locked.why || undefined);
    }
    return await fn();
  } finally {
    closeSync(fd);
  }
}
