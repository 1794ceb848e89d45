// lib/platform/path.ts against node:path.posix itself (the behaviour it replaces), on awkward inputs.
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { basename, dirname, join, normalize } from '../../lib/platform/path.ts';

const PATHS = [
  '',
  '.',
  '..',
  '/',
  '//',
  '///a',
  'a',
  'a/',
  'a//b',
  '/a/b/',
  '/a/./b',
  '/a/../b',
  '/../a',
  '../a',
  'a/../..',
  'a/b/../../..',
  '/var/lib/cni/',
  './x/./y/',
  '/a/b/c/..',
  'x/..',
  '; rm -rf /',
  'a b/c',
];

describe('lib/path matches node:path.posix', () => {
  it.each(PATHS)('normalize / dirname / basename of %j', (p) => {
    expect(normalize(p)).toBe(posix.normalize(p));
    expect(dirname(p)).toBe(posix.dirname(p));
    expect(basename(p)).toBe(posix.basename(p));
  });
  it('join of every pair', () => {
    for (const a of PATHS) for (const b of PATHS) expect(join(a, b), JSON.stringify([a, b])).toBe(posix.join(a, b));
  });
});
