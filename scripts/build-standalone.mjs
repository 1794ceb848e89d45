// Standalone build: one self-contained executable, dist/bin/cni-ts, that needs no Node.js on the
// host, plus dist/bin/{bridge,host-local,ptp,portmap,loopback} as symlinks to it (it dispatches on the name it was
// invoked by — lib/platform/qjs/host.c picks the plugin, plugins/main.ts is each one's entry).
//
// Why QuickJS: start-up dominates every CNI call (a runtime execs the plugin for each
// ADD/DEL/CHECK and polls STATUS). The same TypeScript is bundled by esbuild, compiled to QuickJS
// bytecode by qjsc and linked with QuickJS and lib/platform/qjs/host.c into one static executable
// (~5.7 MB) whose VERSION call takes ~2.3 ms here, less than a Go plugin's ~3.9 ms; Bun's runtime
// took ~6 ms before running a line of ours, Node 60–70 ms (README "Benchmark").
//
// QuickJS comes from Debian's source package (the upstream release tarball, checked against the
// SHA-256 Debian publishes), built once into node_modules/.cache/ with the C compiler.
// QUICKJS_TARBALL=/path/to/quickjs_2025.04.26.orig.tar.xz builds from a local copy (offline).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

export const MULTICALL = 'cni-ts';

const QUICKJS = {
  version: '2025.04.26',
  url: 'https://deb.debian.org/debian/pool/main/q/quickjs/quickjs_2025.04.26.orig.tar.xz',
  sha256: 'ec81da5b3249ed648dbc7df4a1654988910e66a118d9b71cb63534216efcfbbe',
};

function replaceWithSymlink(target, linkPath) {
  try {
    if (lstatSync(linkPath)) unlinkSync(linkPath);
  } catch {
    /* absent */
  }
  symlinkSync(target, linkPath);
}

async function fetchTarball(dest) {
  const local = process.env.QUICKJS_TARBALL;
  let data;
  if (local) {
    data = readFileSync(local);
  } else {
    const res = await fetch(QUICKJS.url);
    if (!res.ok) throw new Error(`downloading ${QUICKJS.url}: HTTP ${res.status} (set QUICKJS_TARBALL to a local copy)`);
    data = Buffer.from(await res.arrayBuffer());
  }
  const sum = createHash('sha256').update(data).digest('hex');
  if (sum !== QUICKJS.sha256) throw new Error(`QuickJS tarball checksum mismatch: ${sum}, expected ${QUICKJS.sha256}`);
  writeFileSync(dest, data);
}

/** The QuickJS source tree with libquickjs.a and qjsc built; cached across builds. */
async function quickjs(root) {
  const cache = join(root, 'node_modules', '.cache', `quickjs-${QUICKJS.version}`);
  const src = join(cache, `quickjs-${QUICKJS.version}`);
  const done = join(cache, '.built');
  if (existsSync(done)) return src;
  rmSync(cache, { recursive: true, force: true });
  mkdirSync(cache, { recursive: true });
  const tarball = join(cache, 'quickjs.tar.xz');
  await fetchTarball(tarball);
  execFileSync('tar', ['-xJf', tarball, '-C', cache], { stdio: 'inherit' });
  console.log(`building QuickJS ${QUICKJS.version} (once; ~1 min)`);
  execFileSync('make', ['-j', '2', 'qjsc', 'libquickjs.a'], { cwd: src, stdio: ['ignore', 'ignore', 'inherit'] });
  writeFileSync(done, '');
  return src;
}

/**
 * A chunk's `import("./chunk-….mjs")` calls (esbuild's split points) become `__cniImport(…)`, the
 * entry's import(), so the chunk can be compiled without debug info (see buildStandalone).
 */
function routeDynamicImports(file) {
  const code = readFileSync(file, 'utf8');
  const routed = code.replaceAll('import("./', '__cniImport("./');
  if (/\bimport\(/.test(routed)) throw new Error(`${file}: an import() that is not one of esbuild's split points`);
  if (routed !== code) writeFileSync(file, routed);
}

/**
 * 'qjs:os' in lib/platform/qjs/prelude.ts is QuickJS's built-in 'os' module. lib/platform/exec-node.ts
 * (execa, the Node build's spawner) is never reached here: lib/platform/exec.ts spawns through the
 * prelude, so the module is left out of the executable.
 */
const quickjsModules = {
  name: 'quickjs-modules',
  setup(b) {
    b.onResolve({ filter: /^qjs:/ }, (args) => ({ path: args.path.slice(4), external: true }));
    b.onResolve({ filter: /[\\/]exec-node\.ts$/ }, () => ({ path: 'exec-node', namespace: 'cni-ts-standalone' }));
    b.onLoad({ filter: /.*/, namespace: 'cni-ts-standalone' }, () => ({
      contents: "export function runWithExeca() { throw new Error('the standalone executable spawns through its own runtime'); }",
      loader: 'js',
    }));
  },
};

export async function buildStandalone({ root, plugins, esbuildPlugins }) {
  const qjs = await quickjs(root);
  const outDir = join(root, 'dist', 'bin');
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(root, 'dist', '.standalone-')); // concurrent builds must not share it
  const tmp = join(outDir, `.${MULTICALL}.tmp-${process.pid}`);
  try {
    // Per plugin (see plugins/main.ts): one esbuild bundle split at its lazy imports, each
    // piece compiled by qjsc to a bytecode module of its own, so lib/platform/qjs/host.c reads a module only
    // when it is imported. Module names are "<plugin>/<file>.mjs" (qjsc runs in `work`), which is
    // also how the entry's relative imports resolve at run time. -M marks the other pieces as
    // external, so each C file holds exactly one module. -s: no debug info (about half the bytes to
    // read at start-up; errors keep their messages). Stripping takes away the file name QuickJS
    // resolves a dynamic import() against, so the chunks' import() calls go through the entry's
    // __cniImport (plugins/main.ts), the one module kept whole.
    const sources = [join(root, 'lib', 'platform', 'qjs', 'host.c')];
    const modules = [];
    const esbuildOptions = {
      bundle: true,
      platform: 'neutral',
      mainFields: ['module', 'main'],
      target: 'es2022',
      format: 'esm',
      minify: true,
      legalComments: 'none',
      external: ['node:*'], // Node-only fallbacks (lib/platform/fs.ts, lib/platform/hash.ts), never reached here
      plugins: [quickjsModules, ...esbuildPlugins],
      logLevel: 'warning',
    };
    // The runtime surface (lib/platform/qjs/prelude.ts) is a module of its own that host.c evaluates before
    // the plugin's: split chunks evaluate before the entry's own body, so it cannot live in there.
    await build({
      ...esbuildOptions,
      entryPoints: [join(root, 'lib', 'platform', 'qjs', 'prelude.ts')],
      outfile: join(work, 'prelude.mjs'),
    });
    const bytecode = (name, pieces) => {
      const cname = `qjsc_module_${modules.length}`;
      const others = pieces.filter((n) => n !== name).flatMap((n) => ['-M', n]);
      const strip = /\bimport\(/.test(readFileSync(join(work, name), 'utf8')) ? [] : ['-s'];
      execFileSync(join(qjs, 'qjsc'), ['-c', '-m', ...strip, '-N', cname, ...others, '-o', `${cname}.c`, name], {
        cwd: work,
        stdio: 'inherit',
      });
      sources.push(join(work, `${cname}.c`));
      modules.push({ name, cname });
    };
    bytecode('prelude.mjs', []);
    for (const plugin of plugins) {
      const dir = join(work, plugin);
      rmSync(dir, { recursive: true, force: true });
      await build({
        entryPoints: { standalone: join(root, 'plugins', 'main.ts') },
        outdir: dir,
        splitting: true,
        chunkNames: 'chunk-[hash]',
        outExtension: { '.js': '.mjs' },
        define: { CNI_TS_PLUGIN: JSON.stringify(plugin) },
        ...esbuildOptions,
      });
      const names = readdirSync(dir).map((f) => `${plugin}/${f}`);
      for (const name of names) if (!name.endsWith('/standalone.mjs')) routeDynamicImports(join(work, name));
      for (const name of names) bytecode(name, names);
    }
    const table = join(work, 'modules.c');
    writeFileSync(
      table,
      [
        '#include "modules.h"',
        `const char *const cni_plugins[] = {${plugins.map((p) => JSON.stringify(p)).join(', ')}};`,
        `const size_t cni_plugins_count = ${plugins.length};`,
        ...modules.map((m) => `extern const uint8_t ${m.cname}[];\nextern const uint32_t ${m.cname}_size;`),
        'const struct cni_module cni_modules[] = {',
        ...modules.map((m) => `    {${JSON.stringify(m.name)}, ${m.cname}, &${m.cname}_size},`),
        '};',
        `const size_t cni_modules_count = ${modules.length};`,
        '',
      ].join('\n'),
    );
    sources.push(table);
    // Linked statically: no dynamic loader work at start-up, and nothing to resolve on the host.
    execFileSync(
      'cc',
      [
        '-O2',
        '-static',
        '-o',
        tmp,
        ...sources,
        `-I${qjs}`,
        `-I${join(root, 'lib', 'platform', 'qjs')}`,
        join(qjs, 'libquickjs.a'),
        '-lm',
        '-lpthread',
      ],
      {
        stdio: ['ignore', 'inherit', 'pipe'], // glibc's notes about dlopen in static programs: QuickJS's .so loader, unused
      },
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  // Rename into place so a test or runtime exec'ing the old binary never sees a half-written one.
  renameSync(tmp, join(outDir, MULTICALL));
  for (const p of plugins) replaceWithSymlink(MULTICALL, join(outDir, p));
  console.log(`built dist/bin/${MULTICALL} (+ links ${plugins.join(', ')})`);
}
