// V8 code cache for the Node bundles, made at build time: the Node analogue of the standalone
// build's precompiled bytecode. A bundle is ~300 KB of JavaScript (execa alone is a third of it)
// that V8 would parse on every call (~20 ms here) and whose functions it would compile as they
// first run (execa's, ip-num's: another ~20 ms of an ADD). The build runs each bundle once on a
// representative call in a throwaway directory (scripts/code-cache-warm.cjs), takes V8's code
// cache at its exit, and writes the bundle as a small loader that hands V8 the code and that cache.
// A Node whose V8 differs from the build's rejects the cache and compiles as usual: same behaviour,
// just without the saving.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';

/** The CommonJS module wrapper the loader calls the bundle's code with. */
const wrap = (code) => `(function (exports, require, module, __filename, __dirname) {${code}\n})`;

/** A call that loads what an ADD of `plugin` loads, runnable without root: host-local ADD, else STATUS. */
function warmUpCall(plugin, dir) {
  const ipam = { type: 'host-local', dataDir: join(dir, 'data'), ranges: [[{ subnet: '10.255.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] };
  const base = { cniVersion: '1.1.0', name: 'cni-ts-warm-up' };
  if (plugin === 'host-local') return { command: 'ADD', config: { ...base, type: 'host-local', ipam } };
  return { command: 'STATUS', config: { ...base, type: plugin, bridge: 'cnits-warm0', ipam } };
}

/** V8's code cache of `wrapped` after the warm-up call, or of its compilation alone if that fails. */
function codeCache(root, plugin, wrapped, marker) {
  const dir = mkdtempSync(join(tmpdir(), 'cni-ts-code-cache-'));
  try {
    const file = join(dir, 'bundle.js');
    const cache = join(dir, 'cache');
    writeFileSync(file, wrapped);
    // Delegation to host-local finds "our" host-local in CNI_PATH by this marker and runs it in-process.
    writeFileSync(join(dir, 'host-local'), `#!/bin/false\n// ${marker.replace(plugin, 'host-local')}\n`, { mode: 0o755 });
    const { command, config } = warmUpCall(plugin, dir);
    try {
      execFileSync(process.execPath, [join(root, 'scripts', 'code-cache-warm.cjs'), file, cache], {
        input: JSON.stringify(config),
        env: {
          PATH: process.env.PATH,
          CNI_COMMAND: command,
          CNI_CONTAINERID: 'warm-up',
          CNI_NETNS: join(dir, 'netns'),
          CNI_IFNAME: 'eth0',
          CNI_PATH: dir,
        },
        stdio: ['pipe', 'ignore', 'ignore'],
        timeout: 30_000,
      });
      return readFileSync(cache);
    } catch {
      return new Script(wrapped, { filename: 'cni-ts-bundle' }).createCachedData();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bundle as written to dist/: banner, then a loader running `code` with its code cache. */
export function withCodeCache(root, plugin, banner, code) {
  const wrapped = wrap(code);
  const cache = codeCache(root, plugin, wrapped, banner.split('\n')[1].replace(/^\/\/ /, ''));
  return (
    `${banner}` +
    `"use strict";const{Script}=require("node:vm");` +
    `new Script(${JSON.stringify(wrapped)},{filename:__filename,cachedData:Buffer.from(${JSON.stringify(cache.toString('base64'))},"base64")})` +
    `.runInThisContext()(exports,require,module,__filename,__dirname);\n`
  );
}
