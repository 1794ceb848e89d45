// The CPU architectures the standalone build targets, and what this machine has to build and run
// each: the C compiler (cc for its own, Debian's cross compilers for the other) and, for a foreign
// target, qemu-user (`qemu-aarch64-static` from qemu-user-static), run explicitly: no binfmt_misc
// registration, which would change the whole machine, is needed or made.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ARCH, type Arch } from '../../lib/platform/arch.ts';

export const ARCHES: Arch[] = ['amd64', 'arm64'];
const QEMU: Record<Arch, string> = { amd64: 'qemu-x86_64-static', arm64: 'qemu-aarch64-static' };
const CROSS_CC: Record<Arch, string> = { amd64: 'x86_64-linux-gnu-gcc', arm64: 'aarch64-linux-gnu-gcc' };

function onPath(file: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) if (existsSync(join(dir, file))) return join(dir, file);
  return undefined;
}

/** The C compiler for `arch` on this machine, if installed. */
export function compilerFor(arch: Arch): string | undefined {
  return arch === ARCH ? onPath('cc') : onPath(CROSS_CC[arch]);
}

/** The command prefix that runs an `arch` executable here ([] natively), if it can run at all. */
export function runnerFor(arch: Arch): string[] | undefined {
  if (arch === ARCH) return [];
  const qemu = onPath(QEMU[arch]);
  return qemu ? [qemu] : undefined;
}

/** Can this machine build and run executables for `arch`? */
export const canTarget = (arch: Arch): boolean => compilerFor(arch) !== undefined && runnerFor(arch) !== undefined;

/** Compile one C file (static) for `arch` into `dir`; returns the executable's path. */
export function compileC(source: string, arch: Arch, dir: string, name: string): string {
  const out = join(dir, name);
  execFileSync(compilerFor(arch)!, ['-O1', '-static', '-o', out, source], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}
