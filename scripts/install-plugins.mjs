#!/usr/bin/env node
// Installs the built plugins into a CNI bin directory:
//
//   npm run install-plugins -- [--dir /opt/cni/bin] [--standalone] [--force] [--dry-run]
//
// --dir DIR      target directory (default /opt/cni/bin; --dest is accepted as a synonym);
//                created if missing.
// --standalone   install dist/bin/cni-ts (no Node.js needed on the host) plus the links
//                bridge, host-local, ptp, portmap, loopback → cni-ts; without it, the Node
//                bundles dist/<plugin> of those names (the host then needs Node >= 20).
// --force        also replace files that are not ours (e.g. the reference Go plugins).
// --dry-run      print what would be done, change nothing.
//
// Atomic: every file is written to a temp file in the target directory (same filesystem), made
// 0755, fsync'ed, then rename(2)d over the old name. A runtime exec'ing the plugin at that moment
// runs either the complete old file or the complete new one, never a half-written file, and never
// gets ETXTBSY (we never open a running executable for writing). Links are created under a temp
// name and renamed into place the same way.
//
// Ownership: a file already at a target name is replaced without --force only when it is ours —
// one of our Node bundles (marker line near the top), our multi-call executable (marker string
// inside), or a link to it. Anything else (another vendor's plugin with the same name) makes the
// installer stop before changing anything, listing the conflicts; --force replaces them.
// Plugins of other names in the directory are never touched.
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { PLUGINS } from './build.mjs';

export { PLUGINS };
export const MULTICALL = 'cni-ts';
const BUNDLE_MARKER = 'cni-ts plugin: ';
const MULTICALL_MARKER = 'cni-ts multi-call executable'; // lib/platform/qjs/host.c prints it in its usage line

export function parseArgs(argv) {
  const opts = { dir: '/opt/cni/bin', standalone: false, force: false, dryRun: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dir' || a === '--dest') {
      const v = argv[++i];
      if (!v) throw new Error(`${a} needs a directory`);
      opts.dir = v;
    } else if (a.startsWith('--dir=') || a.startsWith('--dest=')) opts.dir = a.slice(a.indexOf('=') + 1);
    else if (a === '--standalone') opts.standalone = true;
    else if (a === '--force') opts.force = true;
    else if (a === '--dry-run') opts.dryRun = true;
    else if (a === '-h' || a === '--help') opts.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  opts.dir = resolve(opts.dir);
  return opts;
}

/** Does the file contain `needle`? Reads in chunks (the multi-call executable is ~3 MB). */
function fileContains(path, needle, limit = Infinity) {
  const fd = openSync(path, 'r');
  try {
    const pat = Buffer.from(needle, 'latin1');
    const buf = Buffer.alloc((1 << 20) + pat.length);
    let carry = 0;
    let pos = 0;
    while (pos < limit) {
      const n = readSync(fd, buf, carry, buf.length - carry, pos);
      if (n === 0) return false;
      const end = carry + n;
      if (buf.subarray(0, end).indexOf(pat) !== -1) return true;
      pos += n;
      // keep the tail so a marker spanning two chunks is still found
      carry = Math.min(pat.length - 1, end);
      buf.copy(buf, 0, end - carry, end);
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * What sits at `path`: 'absent', 'ours' (our bundle, our multi-call executable, or a link to our
 * multi-call name in the same directory), or 'foreign'.
 */
export function classify(path) {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return 'absent';
  }
  if (st.isSymbolicLink()) {
    const target = readlinkSync(path);
    if (target === MULTICALL || target === `./${MULTICALL}`) return 'ours';
    try {
      return classify(resolve(dirname(path), target)) === 'ours' ? 'ours' : 'foreign';
    } catch {
      return 'foreign';
    }
  }
  if (!st.isFile()) return 'foreign';
  try {
    if (fileContains(path, BUNDLE_MARKER, 512)) return 'ours';
    // The multi-call executable: an ELF file with our marker string embedded.
    const head = Buffer.alloc(4);
    const fd = openSync(path, 'r');
    readSync(fd, head, 0, 4, 0);
    closeSync(fd);
    if (head.toString('latin1') === '\x7fELF' && fileContains(path, MULTICALL_MARKER)) return 'ours';
  } catch {
    /* unreadable: foreign */
  }
  return 'foreign';
}

/** The files to install: [{ name, kind: 'file', source } | { name, kind: 'link', target }]. */
export function planInstall(root, standalone) {
  if (standalone) {
    return [
      { name: MULTICALL, kind: 'file', source: join(root, 'dist', 'bin', MULTICALL) },
      ...PLUGINS.map((p) => ({ name: p, kind: 'link', target: MULTICALL })),
    ];
  }
  return PLUGINS.map((p) => ({ name: p, kind: 'file', source: join(root, 'dist', p) }));
}

function tempName(dir, name) {
  return join(dir, `.${name}.cni-ts-install.${process.pid}.${Math.random().toString(36).slice(2, 8)}`);
}

/** Copy `source` to `dir/name` atomically (temp file in the same dir, fsync, chmod 0755, rename). */
function installFile(source, dir, name) {
  const tmp = tempName(dir, name);
  const data = readFileSync(source);
  try {
    const fd = openSync(tmp, 'wx', 0o700);
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o755); // independent of the umask
    renameSync(tmp, join(dir, name));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

function installLink(target, dir, name) {
  const tmp = tempName(dir, name);
  try {
    symlinkSync(target, tmp);
    renameSync(tmp, join(dir, name));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

function fsyncDir(dir) {
  try {
    const fd = openSync(dir, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    /* best effort */
  }
}

/**
 * Install into opts.dir. Returns { installed: string[], replacedForeign: string[] }; throws
 * (changing nothing) when a source is missing or a foreign file would be replaced without force.
 */
export function install(root, opts, log = () => {}) {
  const plan = planInstall(root, opts.standalone);
  for (const item of plan) {
    if (item.kind === 'file' && !existsSync(item.source)) {
      throw new Error(`${item.source} is missing: run \`npm run ${opts.standalone ? 'build:standalone' : 'build'}\` first`);
    }
  }
  const foreign = plan.filter((item) => classify(join(opts.dir, item.name)) === 'foreign').map((item) => item.name);
  if (foreign.length > 0 && !opts.force) {
    throw new Error(`refusing to replace files that are not ours in ${opts.dir}: ${foreign.join(', ')} (use --force to replace them)`);
  }
  if (opts.dryRun) {
    for (const item of plan) log(`would install ${join(opts.dir, item.name)}${item.kind === 'link' ? ` -> ${item.target}` : ''}`);
    return { installed: [], replacedForeign: [] };
  }
  mkdirSync(opts.dir, { recursive: true, mode: 0o755 });
  // The multi-call executable goes first, so a link never points at a missing file.
  for (const item of plan) {
    if (item.kind === 'file') installFile(item.source, opts.dir, item.name);
    else installLink(item.target, opts.dir, item.name);
    log(`installed ${join(opts.dir, item.name)}${item.kind === 'link' ? ` -> ${item.target}` : ''}`);
  }
  fsyncDir(opts.dir);
  return { installed: plan.map((i) => i.name), replacedForeign: foreign };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  try {
    const opts = parseArgs(process.argv.slice(2));
    if (opts.help) {
      const text = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
      console.log(
        text
          .slice(
            1,
            text.findIndex((l) => l.startsWith('import')),
          )
          .map((l) => l.replace(/^\/\/ ?/, ''))
          .join('\n'),
      );
    } else {
      if (!statSync(root).isDirectory()) throw new Error('cannot find the project root');
      const r = install(root, opts, (m) => console.log(m));
      if (r.replacedForeign.length) console.log(`replaced (--force): ${r.replacedForeign.join(', ')}`);
      if (!opts.standalone && !opts.dryRun)
        console.log('note: the Node bundles need Node.js >= 20 on this host (`node` in PATH); use --standalone otherwise');
    }
  } catch (e) {
    console.error(`install-plugins: ${e.message}`);
    process.exitCode = 1;
  }
}
