// Synchronous output. Not process.stdout/stderr: the standalone runtime has no such streams, Node
// creates them lazily at a cost, and main() exits as soon as the result is written, which must not
// cut off a message still queued in a stream.
import { writeSync } from './fs.ts';

/** Write all of `text` to a file descriptor. */
export function writeAllSync(fd: number, text: string): void {
  let buf = new TextEncoder().encode(text);
  while (buf.length) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e; // non-blocking pipe: retry
    }
  }
}

/** A diagnostic line on stderr (the runtime logs it; stdout carries only the result). */
export function warn(line: string): void {
  try {
    writeAllSync(2, line.endsWith('\n') ? line : `${line}\n`);
  } catch {
    /* stderr closed: nothing to do */
  }
}
