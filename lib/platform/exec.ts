// Spawning helper processes, behind one small interface: run(file, args) with argument arrays
// only (no shell, so no user string is ever interpreted), stdin fed from memory, stdout/stderr
// collected. In the standalone executable the QuickJS runner of lib/platform/qjs/prelude.ts
// spawns; under Node, execa (lib/platform/exec-node.ts), loaded on first use only (most calls
// spawn nothing).
import { writeAllSync } from './output.ts';
import type { HostSpawn } from './qjs/prelude.ts';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  /** Extra stdio entries (index 3 onwards), e.g. a file descriptor to inherit. */
  extraFds?: number[];
  /** Forward the child's stderr to ours as it arrives (delegated plugins). */
  forwardStderr?: boolean;
}

const hostSpawn = (globalThis as { __cniHost?: { spawn?: HostSpawn } }).__cniHost?.spawn;

export function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (hostSpawn) return runWithHost(hostSpawn, file, args, opts);
  return import('./exec-node.ts').then((m) => m.runWithExeca(file, args, opts));
}

/** The standalone executable (lib/platform/qjs/prelude.ts). It has no extra descriptors to pass: flock is native there. */
function runWithHost(spawn: HostSpawn, file: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  if (opts.extraFds?.length) throw new Error('extra descriptors are not supported by the standalone runtime');
  return spawn(file, args, {
    input: typeof opts.input === 'string' ? new TextEncoder().encode(opts.input) : opts.input,
    env: opts.env ?? process.env,
    onStderr: opts.forwardStderr ? (text) => writeAllSync(2, text) : undefined,
  });
}
