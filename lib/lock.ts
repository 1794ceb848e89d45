// An exclusive flock(2) lock, compatible with the reference host-local (which flocks
// <dataDir>/<network>/lock). Node has no flock, so a short-lived `flock -x 3` child locks the open
// file description it inherits from us: the lock then lives exactly as long as our descriptor
// stays open, and dies with our process, so a crash can never leave a stale lock behind.
import { closeSync, constants, openSync } from 'node:fs';
import { CniError, ErrorCode } from './errors.ts';
import { run } from './exec.ts';

export const LOCK_WAIT_SECONDS = 60;

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
    const r = await run('flock', ['-x', '-w', String(waitSeconds), '3'], { extraFds: [fd] });
    if (r.code !== 0) {
      throw new CniError(ErrorCode.TryAgainLater, `timed out after ${waitSeconds}s waiting for lock ${path}`, r.stderr.trim().slice(0, 200));
    }
    return await fn();
  } finally {
    closeSync(fd);
  }
}
