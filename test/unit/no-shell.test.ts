// No user-controlled string may ever reach a shell: the plugins spawn processes only through
// lib/platform/exec.ts, which hands argument arrays to execa (lib/platform/exec-node.ts, the Node
// build) or to the standalone runtime's spawner (lib/platform/qjs/prelude.ts), never with a shell.
// This test reads every source file of the plugins and fails on anything that could start a shell
// or run a command line given as one string.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/kernel.ts';

const SOURCE_DIRS = ['lib', 'plugins', 'ipam'];
const SPAWNER = 'lib/platform/exec-node.ts'; // execa, in the Node build
const QJS_SPAWNER = 'lib/platform/qjs/prelude.ts'; // QuickJS's os.exec, called by lib/platform/exec.ts in the standalone build

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    // Declaration files hold types only (lib/platform/qjs/os.d.ts declares QuickJS's os.exec): no code runs.
    return /\.(ts|mts|js|mjs|cjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Comments removed (they may talk about shells), strings and code kept. */
const stripComments = (src: string) => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:\\'"`])\/\/.*$/gm, '$1');

/** Problems in one file's source; `file` is relative to the repository root. */
function shellHazards(file: string, source: string): string[] {
  const code = stripComments(source);
  const found: string[] = [];
  const rules: Array<[RegExp, string]> = [
    [/\bshell\s*:/, 'a `shell:` spawn option'],
    [/\bexeca(Command|CommandSync|Node|Sync)\b|\bparseCommandString\b/, 'an execa form other than execa(file, args)'],
    [/\b(execa|\$)\s*(\([^)]*\)\s*)?`/, 'execa or $ with a template string (a command line)'],
    [/(?<![.\w])exec(Sync)?\s*\(/, 'exec()/execSync() (a command line as one string, run by a shell)'],
    [/\b(execFile|execFileSync|spawnSync|fork)\s*\(/, 'a child_process call other than spawn'],
    [/\bBun\.\$|\$`/, "Bun's shell"],
    [/['"](?:\/bin\/)?(?:ba|da|z)?sh['"]\s*,\s*\[\s*['"]-c['"]/, 'sh -c'],
  ];
  for (const [re, what] of rules) if (re.test(code)) found.push(`${file}: ${what}`);
  if (
    /from\s+['"](?:node:)?child_process['"]|require\(\s*['"](?:node:)?child_process['"]\s*\)|getBuiltinModule\(\s*['"](?:node:)?child_process/.test(
      code,
    )
  )
    found.push(`${file}: uses child_process (processes start only through execa in ${SPAWNER})`);
  if (/from\s+['"]execa['"]|import\(\s*['"]execa['"]/.test(code) && file !== SPAWNER)
    found.push(`${file}: imports execa (only ${SPAWNER} does)`);
  return found;
}

describe('no user string reaches a shell', () => {
  it('the detector flags every hazard it looks for (and only those)', () => {
    expect(shellHazards('lib/x.ts', "import { execSync } from 'node:child_process';\nexecSync(`ip link del ${name}`);")).toHaveLength(2);
    expect(shellHazards('lib/x.ts', "spawn('ip', args, { shell: true });")).toEqual(['lib/x.ts: a `shell:` spawn option']);
    expect(shellHazards('lib/x.ts', "run('sh', ['-c', cmd]);")).toEqual(['lib/x.ts: sh -c']);
    expect(shellHazards('lib/x.ts', 'const m = /a(b)/.exec(text); // spawned with shell: never')).toEqual([]);
    expect(shellHazards(SPAWNER, "import { execa } from 'execa';")).toEqual([]);
    expect(shellHazards('lib/x.ts', "import { execa } from 'execa';")).toEqual([
      'lib/x.ts: imports execa (only lib/platform/exec-node.ts does)',
    ]);
    expect(shellHazards(SPAWNER, "import { spawn } from 'node:child_process';")).toHaveLength(1);
    expect(shellHazards(SPAWNER, 'await execa`ip link del ${name}`;')).toEqual([
      `${SPAWNER}: execa or $ with a template string (a command line)`,
    ]);
    expect(shellHazards(SPAWNER, "await execa({ stdin: 'ignore' })`ip ${x}`;")).toHaveLength(1);
    expect(shellHazards(SPAWNER, 'await $`ip link`;')).toHaveLength(1);
    expect(shellHazards(SPAWNER, "await execaCommand('ip link del ' + name);")).toHaveLength(1);
    expect(shellHazards(SPAWNER, "await execa('ip', ['link'], { shell: true });")).toEqual([`${SPAWNER}: a \`shell:\` spawn option`]);
  });

  it(`no source file in ${SOURCE_DIRS.join('/, ')}/ uses a shell, exec(), or child_process outside ${SPAWNER}`, () => {
    const files = SOURCE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d)));
    expect(files.length).toBeGreaterThan(20);
    const hazards = files.flatMap((f) => shellHazards(relative(ROOT, f), readFileSync(f, 'utf8')));
    expect(hazards).toEqual([]);
  });

  it(`${SPAWNER} runs execa with the file and an argument array, and no shell`, () => {
    const code = stripComments(readFileSync(join(ROOT, SPAWNER), 'utf8'));
    expect([...code.matchAll(/\bexeca\(([^,)]*), ([^,)]*),/g)].map((m) => `${m[1]}, ${m[2]}`)).toEqual(['file, args']);
    expect(code).not.toMatch(/shell/);
  });

  it(`the standalone runtime's spawner (${QJS_SPAWNER}) execs an argument array, never a shell`, () => {
    const code = stripComments(readFileSync(join(ROOT, QJS_SPAWNER), 'utf8'));
    const calls = [...code.matchAll(/os\.exec\((\[[^\]]*\])/g)].map((m) => m[1]);
    expect(calls).toEqual(['[file, ...args]']);
    expect(code).not.toMatch(/['"](?:\/bin\/)?(?:ba|da|z)?sh['"]/);
  });
});
