// Spawning helper processes: argument arrays only (no shell, so no user string is ever
// interpreted), stdin fed from memory, stdout/stderr collected.
import { spawn, type StdioOptions } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  /** Extra stdio entries (index 3 onwards), e.g. a file descriptor to inherit. */
  extraFds?: number[];
  /** Forward the child's stderr to ours as it arrives (delegated plugins). */
  forwardStderr?: boolean;
}

export function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
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
      if (opts.forwardStderr) process.stderr.write(d);
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
