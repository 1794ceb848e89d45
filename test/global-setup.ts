// Build the plugins once before any test runs, so integration tests always exercise the
// current source (the bundle build takes about a second; the standalone one only when asked).
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export default function setup(): void {
  const root = resolve(import.meta.dirname, '..');
  const args = ['scripts/build.mjs'];
  const build = process.env.CNI_TS_BUILD ?? '';
  if (build.startsWith('standalone')) args.push('--standalone');
  // standalone-arm64: the cross-compiled executable (test/helpers/kernel.ts runs it under qemu-user).
  if (build.startsWith('standalone-')) args.push('--arch', build.slice('standalone-'.length));
  if (process.env.CNI_TS_SKIP_BUILD !== '1') execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
}
