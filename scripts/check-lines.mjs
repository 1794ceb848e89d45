#!/usr/bin/env node
// Fails on a line longer than MAX characters in the repository's code (TypeScript, scripts, C).
// Biome's formatter wraps code at 140 columns but leaves comments and string literals alone: this
// catches those too, with a little slack for a test name or a message that reads better whole.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 160;
const files = execFileSync(
  'git',
  ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mts', '*.mjs', '*.c', '*.h', '*.sh'],
  {
    encoding: 'utf8',
  },
)
  .split('\n')
  .filter(Boolean);
const long = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // deleted in the work tree
  }
  text.split('\n').forEach((line, i) => {
    if ([...line].length > MAX) long.push(`${file}:${i + 1}: ${[...line].length} characters (at most ${MAX})`);
  });
}
for (const l of long) console.error(l);
process.exit(long.length ? 1 : 0);
