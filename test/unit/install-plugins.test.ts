// The installer against a fake project root and a temp target dir: no root, no real build needed.
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { classify, install, PLUGINS, parseArgs } from '../../scripts/install-plugins.mjs';

let root: string;
let dir: string;
const opts = (o: Partial<ReturnType<typeof parseArgs>> = {}) => ({ ...parseArgs(['--dir', dir]), ...o });

function fakeBuild(version: string): void {
  mkdirSync(join(root, 'dist', 'bin'), { recursive: true });
  for (const p of PLUGINS) {
    writeFileSync(join(root, 'dist', p), `#!/usr/bin/env node\n// cni-ts plugin: ${p}\nconsole.log(${JSON.stringify(version)})\n`, {
      mode: 0o644,
    });
  }
  // Stand-in for the standalone executable: ELF magic, padding past the scanner's 1 MiB chunk, marker.
  const elf = Buffer.concat([
    Buffer.from('\x7fELF', 'latin1'),
    Buffer.alloc((1 << 20) - 10),
    Buffer.from(`cni-ts multi-call executable ${version}`),
  ]);
  writeFileSync(join(root, 'dist', 'bin', 'cni-ts'), elf, { mode: 0o644 });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'cnits-root-'));
  dir = join(mkdtempSync(join(tmpdir(), 'cnits-bin-')), 'opt', 'cni', 'bin');
  fakeBuild('v1');
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(join(dir, '..', '..', '..'), { recursive: true, force: true });
});

describe('install-plugins', () => {
  it('parses its options', () => {
    expect(parseArgs([])).toMatchObject({ dir: '/opt/cni/bin', standalone: false, force: false });
    expect(parseArgs(['--dest', '/x', '--standalone', '--force'])).toMatchObject({ dir: '/x', standalone: true, force: true });
    expect(parseArgs(['--dir=/y'])).toMatchObject({ dir: '/y' });
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown argument/);
    expect(() => parseArgs(['--dir'])).toThrow(/needs a directory/);
  });

  it('installs the Node bundles with mode 0755 into a new directory, leaving no temp files', () => {
    install(root, opts());
    expect(readdirSync(dir).sort()).toEqual(['bridge', 'host-local', 'loopback', 'portmap', 'ptp']);
    for (const p of PLUGINS) {
      expect(statSync(join(dir, p)).mode & 0o777).toBe(0o755);
      expect(readFileSync(join(dir, p), 'utf8')).toBe(readFileSync(join(root, 'dist', p), 'utf8'));
    }
  });

  it('installs the standalone executable plus links named after each plugin', () => {
    install(root, opts({ standalone: true }));
    expect(readdirSync(dir).sort()).toEqual(['bridge', 'cni-ts', 'host-local', 'loopback', 'portmap', 'ptp']);
    expect(statSync(join(dir, 'cni-ts')).mode & 0o777).toBe(0o755);
    for (const p of PLUGINS) {
      expect(lstatSync(join(dir, p)).isSymbolicLink()).toBe(true);
      expect(readlinkSync(join(dir, p))).toBe('cni-ts');
    }
    expect(classify(join(dir, 'cni-ts'))).toBe('ours');
    expect(classify(join(dir, 'bridge'))).toBe('ours');
  });

  it('replaces its own earlier install (bundle → standalone → bundle) without --force', () => {
    install(root, opts());
    install(root, opts({ standalone: true }));
    expect(lstatSync(join(dir, 'ptp')).isSymbolicLink()).toBe(true);
    fakeBuild('v2');
    install(root, opts());
    expect(lstatSync(join(dir, 'ptp')).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(dir, 'ptp'), 'utf8')).toContain('v2');
  });

  it('refuses to replace a foreign plugin of the same name, changing nothing, unless --force', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'bridge'), '\x7fELF someone else', { mode: 0o755 });
    writeFileSync(join(dir, 'bandwidth'), 'another plugin', { mode: 0o755 });
    expect(classify(join(dir, 'bridge'))).toBe('foreign');
    expect(() => install(root, opts())).toThrow(/not ours.*bridge.*--force/);
    expect(readdirSync(dir).sort()).toEqual(['bandwidth', 'bridge']);
    expect(readFileSync(join(dir, 'bridge'), 'utf8')).toBe('\x7fELF someone else');

    const r = install(root, opts({ force: true }));
    expect(r.replacedForeign).toEqual(['bridge']);
    expect(readFileSync(join(dir, 'bridge'), 'utf8')).toContain('cni-ts plugin: bridge');
    expect(readFileSync(join(dir, 'bandwidth'), 'utf8')).toBe('another plugin'); // other names untouched
  });

  it('fails before touching anything when the build is missing', () => {
    rmSync(join(root, 'dist', 'bin', 'cni-ts'));
    expect(() => install(root, opts({ standalone: true }))).toThrow(/build:standalone/);
    expect(() => statSync(dir)).toThrow();
  });

  it('dry run changes nothing', () => {
    const lines: string[] = [];
    install(root, opts({ dryRun: true }), (m) => lines.push(m));
    expect(lines).toHaveLength(PLUGINS.length);
    expect(() => statSync(dir)).toThrow();
  });

  it('replaces an executable that is running (no ETXTBSY), and the running process is unaffected', async () => {
    mkdirSync(dir, { recursive: true });
    // A real ELF executable, running while we install over its name.
    copyFileSync('/bin/sleep', join(dir, 'host-local'));
    const child = spawn(join(dir, 'host-local'), ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    try {
      // Writing into the running file in place is what the rename avoids:
      expect(() => writeFileSync(join(dir, 'host-local'), 'x')).toThrow(/ETXTBSY/);
      install(root, opts({ force: true }));
      expect(readFileSync(join(dir, 'host-local'), 'utf8')).toContain('cni-ts plugin: host-local');
      expect(child.exitCode).toBeNull(); // still running the old inode
    } finally {
      child.kill();
    }
  });
});
