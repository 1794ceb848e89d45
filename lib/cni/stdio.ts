// Blocking stdin read and the process entry shared by every plugin executable.
import { concatBytes } from '../platform/bytes.ts';
import { fstatSync, readSync } from '../platform/fs.ts';
import { warn, writeAllSync } from '../platform/output.ts';
import { dispatch, type Plugin } from './dispatch.ts';

/** The exit of a run that ends without a result document (also lib/platform/qjs/host.c's). */
export const NO_RESULT_EXIT = 70;

export function readAllStdin(limit = 65 * 1024 * 1024): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(1 << 16);
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
    chunks.push(buf.slice(0, n));
    total += n;
    if (total > limit) break; // the dispatcher reports the oversize input
  }
  return concatBytes(chunks);
}

/**
 * Nothing to read from a terminal (an interactive VERSION) or any other character device (one
 * fstat: no node:tty, which the standalone runtime lacks and Node loads with its streams).
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
  const outcome = await dispatch(plugin, process.env, () => (stdinIsCharacterDevice() ? new Uint8Array(0) : readAllStdin()));
  if (outcome.stdout) {
    try {
      writeAllSync(1, outcome.stdout);
    } catch (e) {
      // stdout closed (EPIPE; neither build dies of SIGPIPE) or failing: the runtime gets no
      // document, so this is the exit of a run without a result (README "Error codes").
      warn(`cannot write the result to stdout: ${(e as Error).message}`);
      process.exit(NO_RESULT_EXIT);
    }
  }
  // Everything is written (synchronously): leave now, without winding the runtime down.
  process.exit(outcome.exitCode);
}
