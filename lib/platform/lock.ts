// An exclusive flock(2) lock, compatible with the reference host-local (which flocks
// <dataDir>/<network>/lock). Node has no flock, so a short-lived `flock -x 3` child locks the open
// file description it inherits from us: the lock then lives exactly as long as our descriptor
// stays open, and dies with our process, so a crash can never leave a stale lock behind.
// The standalone executable calls flock(2) itself (lib/platform/qjs/host.c) and saves that process.

import { CniError, ErrorCode } from '../cni/errors.ts';
import { layout } from './arch.ts';
import { run } from './exec.ts';
import { closeSync, constants, openSync } from './fs.ts';
import { ERRNO, libc, strerror } from './libc.ts';

export const LOCK_WAIT_SECONDS = 60;

const { LOCK_EX } = layout.misc;

async function lockFd(fd: number, waitSeconds: number): Promise<{ ok: boolean; why: string }> {
  const c = libc();
  if (c) {
    // The standalone executable: a blocking flock(2) bounded by a timer. Nothing else runs in a
    // plugin process while it waits for the lock, so blocking its event loop costs nothing.
    const ms = Math.max(1, Math.round(waitSeconds * 1000)); // never 0: that would wait forever
    if (c.flock(fd, LOCK_EX, ms) === 0) return { ok: true, why: '' };
    const e = c.errno();
    return { ok: false, why: e === ERRNO.EINTR ? '' : `flock: ${strerror(e)}` };
  }
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
