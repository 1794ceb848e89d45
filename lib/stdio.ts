// Blocking stdin read and the process entry shared by every plugin executable.
import { fstatSync, readSync, writeSync } from './fs.ts';
import { dispatch, type Plugin } from './dispatch.ts';

export function readAllStdin(limit = 65 * 1024 * 1024): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue; // non-blocking pipe: spin until data or EOF
      if (code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
    if (total > limit) break; // the dispatcher reports the oversize input
  }
  return Buffer.concat(chunks);
}

/**
 * Write all of `text` to a file descriptor synchronously. Not process.stdout: creating that stream
 * costs ~12 ms at start-up in the standalone (Bun) build, more than the rest of a VERSION call.
 */
export function writeAllSync(fd: number, text: string): void {
  let buf = Buffer.from(text);
  while (buf.length) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e; // non-blocking pipe: retry
    }
  }
}

/**
 * Nothing to read from a terminal (an interactive VERSION) or any other character device (node:tty
 * would tell a terminal apart, but loading it costs ~7 ms of Bun start-up: it pulls in streams).
 */
function stdinIsCharacterDevice(): boolean {
  try {
    return fstatSync(0).isCharacterDevice();
  } catch {
    return false;
  }
}

/** Entry point: dispatch, print exactly one document, exit with its status. */
export async function main(plugin: Plugin): Promise<void> {
  const outcome = await dispatch(plugin, process.env, () => (stdinIsCharacterDevice() ? Buffer.alloc(0) : readAllStdin()));
  if (outcome.stdout) writeAllSync(1, outcome.stdout);
  process.exitCode = outcome.exitCode;
}
