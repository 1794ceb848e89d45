// The Node build's processes, run by execa: the file and an argument array (execa involves no
// shell unless told to, and nothing here tells it to), the environment exactly as given, stdin
// from memory, stdout and stderr collected as text. lib/platform/exec.ts loads this module on the
// first spawn only: most calls spawn nothing, and execa with its dependencies is the largest
// module of the bundle. The standalone build spawns through lib/platform/qjs/prelude.ts instead.
import { execa, type Options } from 'execa';
import type { ExecOptions, ExecResult } from './exec.ts';

export async function runWithExeca(file: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  const r = await execa(file, args, {
    env: opts.env ?? process.env,
    extendEnv: false,
    input: opts.input,
    // stdin only when there is input; stderr also to ours as it arrives for a delegated plugin;
    // extra entries pass descriptors through (flock(1) locks the one it inherits as fd 3).
    stdio: [
      opts.input === undefined ? 'ignore' : 'pipe',
      'pipe',
      opts.forwardStderr ? ['pipe', 'inherit'] : 'pipe',
      ...(opts.extraFds ?? []),
    ] as Options['stdio'],
    reject: false,
    stripFinalNewline: false,
    // Every call awaits its process, so none outlives us: no exit handler to install.
    cleanup: false,
  });
  // Never started (e.g. ENOENT): 127, as a shell would say, with execa's message.
  if (r.exitCode === undefined && !r.signal) return { code: 127, stdout: '', stderr: r.shortMessage ?? '' };
  return { code: r.exitCode ?? 128, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}
