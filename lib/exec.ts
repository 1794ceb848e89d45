// Spawning helper processes: argument arrays only (no shell, so no user string is ever
// interpreted), stdin fed from memory, stdout/stderr collected.
// Under Bun (the standalone build) plain runs use Bun.spawn: loading node:child_process costs
// ~3 ms of every plugin start there, before a single process is spawned. node:child_process is
// loaded on first use only (Node, or the rare run that needs extra descriptors or live stderr).
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

declare const require: (id: string) => any;

interface BunSpawned {
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  exited: Promise<number>;
  signalCode: string | null;
}
type BunSpawn = (cmd: string[], opts: Record<string, unknown>) => BunSpawned;
const bunSpawn = (globalThis as { Bun?: { spawn: BunSpawn } }).Bun?.spawn;

const hostSpawn = (globalThis as { __cniHost?: { spawn?: HostSpawn } }).__cniHost?.spawn;

export function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (hostSpawn) return runWithHost(hostSpawn, file, args, opts);
  if (bunSpawn && !opts.extraFds?.length && !opts.forwardStderr) return runWithBun(bunSpawn, file, args, opts);
  return runWithNode(file, args, opts);
}

/** The standalone executable (lib/qjs/prelude.ts). It has no extra descriptors to pass: flock is native there. */
function runWithHost(spawn: HostSpawn, file: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  if (opts.extraFds?.length) throw new Error('extra descriptors are not supported by the standalone runtime');
  return spawn(file, args, {
    input: typeof opts.input === 'string' ? new TextEncoder().encode(opts.input) : opts.input,
    env: opts.env ?? process.env,
    onStderr: opts.forwardStderr ? (text) => writeAllSync(2, text) : undefined,
  });
}

async function runWithBun(spawn: BunSpawn, file: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  let child: BunSpawned;
  try {
    child = spawn([file, ...args], {
      stdin: opts.input === undefined ? 'ignore' : Buffer.from(opts.input),
      stdout: 'pipe',
      stderr: 'pipe',
      env: opts.env ?? process.env,
    });
  } catch (e) {
    return { code: 127, stdout: '', stderr: (e as Error).message };
  }
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code: child.signalCode ? 128 : code, stdout, stderr };
}

function runWithNode(file: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  const { spawn } = (process.getBuiltinModule?.('node:child_process') ?? require('node:child_process')) as typeof import('node:child_process');
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
