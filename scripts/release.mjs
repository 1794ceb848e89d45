#!/usr/bin/env node
// Release archives, one per architecture, laid out as the reference plugins' releases are:
//
//   npm run release [-- --arch amd64 --arch arm64] [--out DIR]
//
// builds the standalone executable for each architecture (all of ARCHES by default; arm64 is
// cross-compiled, see scripts/build-standalone.mjs) and writes to release/ (or DIR):
//   cni-ts-linux-<arch>-v<version>.tgz          ./cni-ts and ./<plugin> → cni-ts for every plugin
//   cni-ts-linux-<arch>-v<version>.tgz.sha256   "<hex>  <file name>", as sha256sum prints it
//   cni-ts-linux-<arch>-v<version>.tgz.sha512
// `tar -xzf <archive> -C /opt/cni/bin` installs the plugins (the links replace files of the same
// names); `sha256sum -c <archive>.sha256` in the download directory verifies one. The archive has
// no directory entry, so extracting it never changes the target directory's own mode or owner.
//
// Reproducible: entries sorted, owned by 0:0, dated SOURCE_DATE_EPOCH (else the last commit's
// time), gzip without a name or time stamp: the same tree gives byte-identical archives.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { esbuildPlugins, PLUGINS } from './build.mjs';
import { ARCHES, buildStandalone, MULTICALL, standaloneDir } from './build-standalone.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export const archiveName = (arch, version) => `cni-ts-linux-${arch}-v${version}.tgz`;

export function parseArgs(argv) {
  const opts = { arches: [], out: join(root, 'release') };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (!v) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--arch') opts.arches.push(value());
    else if (flag === '--out') opts.out = resolve(value());
    else throw new Error(`unknown argument ${argv[i]} (npm run release -- [--arch amd64|arm64]… [--out DIR])`);
  }
  if (opts.arches.length === 0) opts.arches = [...ARCHES];
  for (const arch of opts.arches) if (!ARCHES.includes(arch)) throw new Error(`unknown architecture ${arch} (known: ${ARCHES.join(', ')})`);
  return opts;
}

function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  try {
    return Number(
      execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    );
  } catch {
    return 0;
  }
}

/** Write `data` to `path` through a temporary name, so a reader never sees a partial file. */
function writeReplacing(path, data) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** The .tgz of the built executable for `arch` and its checksum files; returns the archive's path. */
export function packArchive(arch, version, out) {
  const built = join(standaloneDir(root, arch), MULTICALL);
  const stage = mkdtempSync(join(root, 'dist', '.release-'));
  try {
    copyFileSync(built, join(stage, MULTICALL));
    chmodSync(join(stage, MULTICALL), 0o755);
    for (const p of PLUGINS) symlinkSync(MULTICALL, join(stage, p));
    const entries = [MULTICALL, ...PLUGINS].map((n) => `./${n}`);
    const tar = execFileSync(
      'tar',
      [
        '--create',
        '--format=gnu',
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        `--mtime=@${sourceDateEpoch()}`,
        '--file=-',
        '-C',
        stage,
        '--',
        ...entries,
      ],
      { maxBuffer: 256 << 20 },
    );
    const tgz = gzipSync(tar, { level: 9 });
    mkdirSync(out, { recursive: true });
    const name = archiveName(arch, version);
    const path = join(out, name);
    writeReplacing(path, tgz);
    for (const alg of ['sha256', 'sha512']) writeReplacing(`${path}.${alg}`, `${createHash(alg).update(tgz).digest('hex')}  ${name}\n`);
    return path;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

async function main(argv) {
  const opts = parseArgs(argv);
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const { plugins } = esbuildPlugins();
  for (const arch of opts.arches) {
    const started = Date.now();
    await buildStandalone({ root, plugins: PLUGINS, esbuildPlugins: plugins, arch });
    const path = packArchive(arch, version, opts.out);
    const exe = statSync(join(standaloneDir(root, arch), MULTICALL)).size;
    console.log(`${path}: ${statSync(path).size} bytes (executable ${exe} bytes; ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
}

const invoked = process.argv[1] && existsSync(process.argv[1]) ? realpathSync(process.argv[1]) : '';
if (invoked === realpathSync(fileURLToPath(import.meta.url))) await main(process.argv.slice(2));
