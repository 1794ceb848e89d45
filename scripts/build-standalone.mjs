// Standalone build: one self-contained executable, dist/bin/cni-ts, that needs no Node.js on the
// host, plus dist/bin/{bridge,host-local,ptp,portmap,loopback} as symlinks to it (it dispatches on the name it was
// invoked by — lib/platform/qjs/host.c picks the plugin, plugins/main.ts is each one's entry).
//
// Why QuickJS: start-up dominates every CNI call (a runtime execs the plugin for each
// ADD/DEL/CHECK and polls STATUS). The same TypeScript is bundled by esbuild, compiled to QuickJS
// bytecode by qjsc and linked with QuickJS and lib/platform/qjs/host.c into one static executable
// (~3 MB) whose VERSION call takes ~2.3 ms here, less than a Go plugin's ~3.9 ms; Bun's runtime
// took ~6 ms before running a line of ours, Node 60–70 ms (README "Benchmark").
//
// Architectures: amd64 and arm64 (`--arch`; the build machine's own by default). Another target
// is cross-compiled with Debian's cross toolchain (aarch64-linux-gnu-gcc from gcc-aarch64-linux-gnu
// and libc6-dev-arm64-cross, or x86_64-linux-gnu-gcc on an arm64 machine); its executable goes to
// dist/bin-<arch>/. qjsc always runs on the build machine: QuickJS bytecode depends on the QuickJS
// version and build options, not on the CPU, among 64-bit little-endian targets (both are), and
// the arm64 executable runs under qemu-user in the tests. lib/platform/arch.ts holds what differs
// (structure layouts, flag values), selected by the CNI_TS_ARCH constant defined here.
//
// QuickJS comes from Debian's source package (the upstream release tarball, checked against the
// SHA-256 Debian publishes), fetched from the Debian archive this machine's apt uses
// (scripts/apt-sources.mjs) and built once per architecture into node_modules/.cache/.
// QUICKJS_TARBALL=/path/to/quickjs_2025.04.26.orig.tar.xz builds from a local copy (offline).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
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
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { debianArchives, readAptSources } from './apt-sources.mjs';

export const MULTICALL = 'cni-ts';

const QUICKJS = {
  version: '2025.04.26',
  pool: 'pool/main/q/quickjs/quickjs_2025.04.26.orig.tar.xz', // inside a Debian archive
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

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/**
 * The tarball from QUICKJS_TARBALL, else from the first Debian archive in the machine's apt sources
 * that serves it with the expected checksum (a mirror lacking it, or serving something else, is
 * skipped with its reason kept for the error).
 */
async function fetchTarball(dest) {
  const local = process.env.QUICKJS_TARBALL;
  if (local) {
    const data = readFileSync(local);
    if (sha256(data) !== QUICKJS.sha256) throw new Error(`${local}: checksum ${sha256(data)}, expected ${QUICKJS.sha256}`);
    writeFileSync(dest, data);
    return;
  }
  const archives = debianArchives(readAptSources());
  const failures = [];
  for (const base of archives) {
    const url = `${base}/${QUICKJS.pool}`;
    try {
      let data;
      if (url.startsWith('file:')) data = readFileSync(fileURLToPath(url));
      else {
        const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        data = Buffer.from(await res.arrayBuffer());
      }
      if (sha256(data) !== QUICKJS.sha256) throw new Error(`checksum ${sha256(data)}, expected ${QUICKJS.sha256}`);
      writeFileSync(dest, data);
      return;
    } catch (e) {
      failures.push(`${url}: ${e.message}`);
    }
  }
  throw new Error(
    archives.length === 0
      ? 'no Debian archive in the apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/): set QUICKJS_TARBALL to a local copy'
      : `QuickJS ${QUICKJS.version} source not found in the apt sources' Debian archives (set QUICKJS_TARBALL to a local copy):\n  ${failures.join('\n  ')}`,
  );
}

export const ARCHES = ['amd64', 'arm64'];
/** Node's process.arch → ours (lib/platform/arch.ts archOfNode). */
export const HOST_ARCH = { x64: 'amd64', arm64: 'arm64' }[process.arch];
const CROSS_PREFIX = { amd64: 'x86_64-linux-gnu-', arm64: 'aarch64-linux-gnu-' };

/** The C compiler's command prefix for `arch`: '' for the build machine's own. */
function crossPrefix(arch) {
  if (!ARCHES.includes(arch)) throw new Error(`unknown architecture ${arch} (known: ${ARCHES.join(', ')})`);
  return arch === HOST_ARCH ? '' : CROSS_PREFIX[arch];
}

/** Where the executable for `arch` goes: dist/bin for the build machine's own, else dist/bin-<arch>. */
export function standaloneDir(root, arch = HOST_ARCH) {
  return join(root, 'dist', arch === HOST_ARCH ? 'bin' : `bin-${arch}`);
}

/**
 * The QuickJS source tree built for `arch` (libquickjs.a; qjsc too for the build machine's own),
 * cached in node_modules/.cache/quickjs-<version>-<arch>. Built in a temporary directory and
 * renamed into place, so a concurrent build never sees a half-built tree.
 */
async function quickjs(root, arch) {
  const cacheRoot = join(root, 'node_modules', '.cache');
  const cache = join(cacheRoot, `quickjs-${QUICKJS.version}-${arch}`);
  const src = join(cache, `quickjs-${QUICKJS.version}`);
  if (existsSync(join(cache, '.built'))) return src;
  mkdirSync(cacheRoot, { recursive: true });
  const prefix = crossPrefix(arch);
  const cc = `${prefix}gcc`;
  try {
    execFileSync(cc, ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      `${cc} not found: the ${arch} build needs it (scripts/setup.sh installs gcc-aarch64-linux-gnu and libc6-dev-arm64-cross)`,
    );
  }
  const tarball = join(cacheRoot, `quickjs_${QUICKJS.version}.orig.tar.xz`);
  if (!existsSync(tarball)) {
    const tmpTarball = `${tarball}.tmp-${process.pid}`;
    await fetchTarball(tmpTarball);
    renameSync(tmpTarball, tarball);
  }
  const work = mkdtempSync(`${cache}.tmp-`);
  chmodSync(work, 0o755);
  try {
    execFileSync('tar', ['-xJf', tarball, '-C', work], { stdio: 'inherit' });
    const tree = join(work, `quickjs-${QUICKJS.version}`);
    console.log(`building QuickJS ${QUICKJS.version} for ${arch} (once; ~1 min)`);
    const targets = prefix ? ['libquickjs.a'] : ['qjsc', 'libquickjs.a'];
    execFileSync('make', ['-j', '2', `CROSS_PREFIX=${prefix}`, ...targets], { cwd: tree, stdio: ['ignore', 'ignore', 'inherit'] });
    writeFileSync(join(work, '.built'), '');
    try {
      renameSync(work, cache);
    } catch (e) {
      if (!existsSync(join(cache, '.built'))) throw e; // else a concurrent build finished first: use its tree
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
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

/**
 * Build the multi-call executable for `arch` into `outDir` with a link per plugin. `entry` and
 * `executable` let the tests build a probe of the same runtime (test/qjs/probe.ts) without links.
 * `esbuildPlugins`: scripts/build.mjs's (zod's compiled parsers, ip-num trimmed).
 */
export async function buildStandalone({
  root,
  plugins,
  esbuildPlugins = [],
  arch = HOST_ARCH,
  outDir = standaloneDir(root, arch),
  entry = join(root, 'plugins', 'main.ts'),
  executable = MULTICALL,
  links = true,
}) {
  const qjsc = join(await quickjs(root, HOST_ARCH), 'qjsc');
  const qjs = await quickjs(root, arch);
  mkdirSync(outDir, { recursive: true });
  mkdirSync(join(root, 'dist'), { recursive: true });
  const work = mkdtempSync(join(root, 'dist', '.standalone-')); // concurrent builds must not share it
  const tmp = join(outDir, `.${executable}.tmp-${process.pid}`);
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
      define: { CNI_TS_ARCH: JSON.stringify(arch) },
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
      execFileSync(qjsc, ['-c', '-m', ...strip, '-N', cname, ...others, '-o', `${cname}.c`, name], {
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
        entryPoints: { standalone: entry },
        outdir: dir,
        splitting: true,
        chunkNames: 'chunk-[hash]',
        outExtension: { '.js': '.mjs' },
        ...esbuildOptions,
        define: { ...esbuildOptions.define, CNI_TS_PLUGIN: JSON.stringify(plugin) },
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
      `${crossPrefix(arch)}gcc`,
      [
        '-O2',
        '-static',
        '-s', // no symbols or debug information (QuickJS's objects carry -g): less than half the size
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
  renameSync(tmp, join(outDir, executable));
  if (links) for (const p of plugins) replaceWithSymlink(executable, join(outDir, p));
  console.log(`built ${relative(root, join(outDir, executable))} for ${arch}${links ? ` (+ links ${plugins.join(', ')})` : ''}`);
}
