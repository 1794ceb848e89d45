// What the tests compare of a stat result: the fields and predicates lib/platform/fs.ts's Stat has,
// as plain data (the same for node:fs's Stats and for the standalone runtime's, see probe.ts).
import type { Stat } from '../../lib/platform/fs.ts';

export const plainStat = (s: Stat) => ({
  dev: s.dev,
  ino: s.ino,
  mode: s.mode,
  size: s.size,
  mtimeMs: s.mtimeMs,
  file: s.isFile(),
  dir: s.isDirectory(),
  chr: s.isCharacterDevice(),
  link: s.isSymbolicLink(),
});
