#!/usr/bin/env node
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Builds each plugin into one executable file:
//   npm run build             → dist/bridge, dist/host-local, dist/ptp, dist/portmap, dist/loopback (need Node >= 20)
//   npm run build:standalone  → dist/bin/cni-ts + links bridge/host-local/ptp/portmap/loopback (no Node needed)
// Every bundle starts with a marker line so a delegating plugin can recognise our own
// host-local in CNI_PATH and run it in-process (lib/cni/delegate.ts).
import { build } from 'esbuild';
import { withCodeCache } from './code-cache.mjs';
import { ipNumBuild } from './ip-num-build.mjs';
import { compiledSchemasPlugin, jsonSchemas, loadSchemas } from './schemas.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PLUGINS = ['bridge', 'host-local', 'ptp', 'portmap', 'loopback'];
const standalone = process.argv.includes('--standalone');

// zod's compiled parsers (scripts/schemas.mjs) and ip-num without its import-time work and unused
// classes (scripts/ip-num-build.mjs), for both builds.
mkdirSync(join(root, 'dist'), { recursive: true });
const schemas = loadSchemas(root);
const plugins = [compiledSchemasPlugin(root, schemas), ipNumBuild];

/**
 * Replace `path` in one rename: a plugin started while another test run rebuilds dist/ must see
 * the old or the new file, never an empty or half-written one (which runs as an empty program and
 * exits 0 with no output, or fails to parse).
 */
function writeAtomically(path, data, mode) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

async function bundle(plugin, outfile, marker) {
  const result = await build({
    entryPoints: [join(root, 'plugins', 'main.ts')],
    define: { CNI_TS_PLUGIN: JSON.stringify(plugin) },
    outfile,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    plugins,
    logLevel: 'warning',
  });
  writeAtomically(outfile, withCodeCache(root, plugin, `#!/usr/bin/env node\n// ${marker}\n`, result.outputFiles[0].text), 0o755);
}

// The repo is "type": "module"; the extensionless bundles are CommonJS (as when installed).
const distPackage = join(root, 'dist', 'package.json');
const distPackageJson = '{"type": "commonjs"}\n';
if (!existsSync(distPackage) || readFileSync(distPackage, 'utf8') !== distPackageJson) writeAtomically(distPackage, distPackageJson, 0o644);
// The network config schemas for editors (README "Editor support"), from the same zod schemas.
mkdirSync(join(root, 'dist', 'schema'), { recursive: true });
for (const [file, schema] of Object.entries(jsonSchemas(await schemas))) {
  writeAtomically(join(root, 'dist', 'schema', file), `${JSON.stringify(schema, null, 2)}\n`, 0o644);
}
if (!standalone) {
  for (const p of PLUGINS) await bundle(p, join(root, 'dist', p), `cni-ts plugin: ${p}`);
  console.log(`built ${PLUGINS.map((p) => `dist/${p}`).join(', ')}`);
} else {
  const { buildStandalone } = await import('./build-standalone.mjs');
  await buildStandalone({ root, plugins: PLUGINS, esbuildPlugins: plugins });
}
