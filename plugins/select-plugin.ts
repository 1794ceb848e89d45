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
 * The path the process was exec'd by: argv[1], the script path under Node; the standalone
 * executable lays out argv the same way (lib/qjs/prelude.ts), with the exec'd name there.
 */
export function invokedName(proc: { argv0: string; argv: readonly string[] }): string {
  return proc.argv[1] ?? proc.argv0;
}
