#!/usr/bin/env node
// Builds each plugin into one executable file:
//   npm run build             → dist/bridge, dist/host-local, dist/ptp  (need Node >= 20)
//   npm run build:standalone  → dist/bin/cni-ts + links bridge/host-local/ptp (no Node needed)
// Every bundle starts with a marker line so a delegating plugin can recognise our own
// host-local in CNI_PATH and run it in-process (lib/delegate.ts).
import { build } from 'esbuild';
import { chmodSync, mkdirSync, rmSync, existsSync, symlinkSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PLUGINS = ['bridge', 'host-local', 'ptp'];
const standalone = process.argv.includes('--standalone');

async function bundle(entry, outfile, marker) {
  await build({
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    external: ['bun:ffi'], // only required at run time under Bun (lib/lock.ts)
    banner: { js: `#!/usr/bin/env node\n// ${marker}\n` },
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
}

mkdirSync(join(root, 'dist'), { recursive: true });
// The repo is "type": "module"; the extensionless bundles are CommonJS (as when installed).
writeFileSync(join(root, 'dist', 'package.json'), '{"type": "commonjs"}\n');
if (!standalone) {
  for (const p of PLUGINS) await bundle(`plugins/${p}.ts`, join(root, 'dist', p), `cni-ts plugin: ${p}`);
  console.log(`built ${PLUGINS.map((p) => `dist/${p}`).join(', ')}`);
} else {
  const { buildStandalone } = await import('./build-standalone.mjs');
  await buildStandalone({ root, bundle, plugins: PLUGINS });
}
