// Runs code of the standalone runtime for each architecture: builds test/qjs/probe.ts with the
// plugins' own build (scripts/build-standalone.mjs) into a temp dir, and runs it natively or, for
// another architecture, under qemu-user (test/helpers/targets.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../../lib/platform/arch.ts';
import { ROOT } from './kernel.ts';
import { runnerFor } from './targets.ts';

export { ARCHES, canTarget, compileC, compilerFor, runnerFor } from './targets.ts';

export interface Probe {
  arch: Arch;
  exe: string;
  /** Run a probe command; the parsed JSON it prints. */
  run<T = unknown>(command: string, args?: string[], input?: Uint8Array): T;
  /** The argv that runs the probe (under qemu when emulated). */
  argv(command: string, args?: string[]): string[];
}

/** Build the probe for `arch` (a few seconds once QuickJS is cached for it). */
export async function buildProbe(arch: Arch): Promise<Probe> {
  const { buildStandalone } = await import('../../scripts/build-standalone.mjs');
  const { esbuildPlugins } = await import('../../scripts/build.mjs');
  const dir = mkdtempSync(join(tmpdir(), `cnits-probe-${arch}-`));
  await buildStandalone({
    root: ROOT,
    plugins: ['probe'],
    esbuildPlugins: esbuildPlugins().plugins,
    arch,
    outDir: dir,
    entry: join(ROOT, 'test', 'qjs', 'probe.ts'),
    executable: 'cni-ts-probe',
    links: false,
  });
  const exe = join(dir, 'cni-ts-probe');
  const argv = (command: string, args: string[] = []) => [...runnerFor(arch)!, exe, 'probe', command, ...args];
  return {
    arch,
    exe,
    argv,
    run<T>(command: string, args: string[] = [], input?: Uint8Array): T {
      const [file, ...rest] = argv(command, args);
      const r = spawnSync(file!, rest, { input, encoding: 'utf8', maxBuffer: 64 << 20 });
      if (r.status !== 0) throw new Error(`probe ${command} (${arch}) exited ${r.status}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
  };
}
