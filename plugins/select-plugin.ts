// Which plugin a multi-call invocation asks for (pure, unit tested): the name it was invoked by
// (`/opt/cni/bin/bridge` → `bridge`), or — when invoked by any other name, such as `cni-ts` —
// its first argument (`cni-ts bridge`).
import { basename } from '../lib/path.ts';

export function selectPluginName(invokedAs: string, args: readonly string[], names: readonly string[]): string | undefined {
  const own = basename(invokedAs);
  if (names.includes(own)) return own;
  const first = args[0];
  return first !== undefined && names.includes(first) ? first : undefined;
}

/**
 * The path the process was exec'd by. A Bun-compiled executable reports "bun" in argv[0] and the
 * embedded script in argv[1], but keeps the exec'd name in process.argv0; under Node the
 * script path (argv[1]) is the name.
 */
export function invokedName(proc: { argv0: string; argv: readonly string[]; versions: Record<string, string | undefined> }): string {
  return proc.versions.bun !== undefined ? proc.argv0 : (proc.argv[1] ?? proc.argv0);
}
