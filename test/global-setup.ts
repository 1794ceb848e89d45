// Build the plugins once before any test runs, so integration tests always exercise the
// current source (the bundle build takes about a second; the standalone one only when asked).
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export default function setup(): void {
  const root = resolve(import.meta.dirname, '..');
  const args = ['scripts/build.mjs'];
  if (process.env.CNI_TS_BUILD === 'standalone') args.push('--standalone');
  if (process.env.CNI_TS_SKIP_BUILD !== '1') execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
}
