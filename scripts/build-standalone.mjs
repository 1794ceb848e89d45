// Standalone build (issue 6): one self-contained executable, dist/bin/cni-ts, that needs no
// Node.js on the host, plus dist/bin/{bridge,host-local,ptp} as symlinks to it (it dispatches on
// the name it was invoked by — plugins/multicall.ts).
//
// Why Bun's compiler: start-up dominates every CNI call (a runtime execs the plugin for each
// ADD/DEL/CHECK and polls STATUS). A Bun-compiled executable starts in ~7 ms here, Node 20 in
// 60–70 ms, a Node single-executable application in ~85 ms (peers.md §2; `npm run bench` prints
// the current figures). The code is first bundled by esbuild exactly like the Node bundles, so
// both builds run the same JavaScript; Bun only embeds it in its runtime (~110 MB, once for all
// plugins thanks to the multi-call links).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync, lstatSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const MULTICALL = 'cni-ts';

/** The bun executable: $BUN, else the one the devDependency @oven/bun-linux-x64 ships. */
export function findBun(root) {
  if (process.env.BUN) return process.env.BUN;
  const require = createRequire(join(root, 'package.json'));
  try {
    const pkg = require.resolve('@oven/bun-linux-x64/package.json');
    const bin = join(pkg, '..', 'bin', 'bun');
    if (existsSync(bin)) return bin;
  } catch {
    /* not installed */
  }
  throw new Error('bun not found: run `npm install` (devDependency @oven/bun-linux-x64) or set BUN=/path/to/bun');
}

function replaceWithSymlink(target, linkPath) {
  try {
    if (lstatSync(linkPath)) unlinkSync(linkPath);
  } catch {
    /* absent */
  }
  symlinkSync(target, linkPath);
}

export async function buildStandalone({ root, bundle, plugins }) {
  const outDir = join(root, 'dist', 'bin');
  mkdirSync(outDir, { recursive: true });
  const js = join(outDir, `.${MULTICALL}.bundle.cjs`);
  await bundle('plugins/multicall.ts', js, `cni-ts multicall: ${plugins.join(' ')}`);
  const tmp = join(outDir, `.${MULTICALL}.tmp`);
  // --bytecode: precompiled bytecode skips parsing at start-up (measured: see README).
  // No .env / bunfig.toml autoloading: a plugin must not pick up files from whatever directory
  // the runtime happens to run it in (and the lookups cost start-up time).
  const flags = ['--compile', '--bytecode', '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig', '--target=bun-linux-x64'];
  execFileSync(findBun(root), ['build', ...flags, js, '--outfile', tmp], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  rmSync(js, { force: true });
  // Rename into place so a test or runtime exec'ing the old binary never sees a half-written one.
  renameSync(tmp, join(outDir, MULTICALL));
  for (const p of plugins) replaceWithSymlink(MULTICALL, join(outDir, p));
  console.log(`built dist/bin/${MULTICALL} (+ links ${plugins.join(', ')})`);
}
