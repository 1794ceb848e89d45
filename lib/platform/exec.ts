// Spawning helper processes: argument arrays only (no shell, so no user string is ever
// interpreted), stdin fed from memory, stdout/stderr collected.
// In the standalone executable the QuickJS runner of lib/platform/qjs/prelude.ts spawns; under Node,
// node:child_process, loaded on first use only (most calls spawn nothing).
import type { StdioOptions } from 'node:child_process';
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

declare const require: (id: string) => unknown;

const hostSpawn = (globalThis as { __cniHost?: { spawn?: HostSpawn } }).__cniHost?.spawn;

export function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (hostSpawn) return runWithHost(hostSpawn, file, args, opts);
  return runWithNode(file, args, opts);
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

function runWithNode(file: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  const { spawn } = (process.getBuiltinModule?.('node:child_process') ??
    require('node:child_process')) as typeof import('node:child_process');
  return new Promise((resolve) => {
    const stdio: StdioOptions = [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(opts.extraFds ?? [])];
    let child;
    try {
      child = spawn(file, args, { stdio, env: opts.env ?? process.env });
    } catch (e) {
      resolve({ code: 127, stdout: '', stderr: (e as Error).message });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => {
      err.push(d);
      if (opts.forwardStderr) writeAllSync(2, d.toString());
    });
    child.on('error', (e) => {
      err.push(Buffer.from(e.message));
    });
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {}); // a child that exits early must not crash us with EPIPE
      child.stdin!.end(opts.input);
    }
  });
}
