// A test probe of the standalone runtime: built by test/helpers/probe.ts with the same build as
// the plugins (scripts/build-standalone.mjs: QuickJS, lib/platform/qjs/host.c, the prelude, the
// target's lib/platform/arch.ts), for each architecture, it runs the platform layer's calls the
// tests name and prints what they return as JSON, so the tests compare them with Node and the kernel.
//
//   cni-ts-probe probe <command> [arguments…]
//
// decode               stdin holds records (u32 little-endian length, bytes): prints each as
//                      TextDecoder decodes it, and whether the fatal decoder accepts it
// stat PATH…           lib/platform/fs.ts stat/lstat/statfs of each path (or the error code)
// open PATH FLAG…      open(2) with the named lib/platform/arch.ts flags: "ok" or the error code
// readdir PATH         the names lib/platform/fs.ts lists
// ifindex NAME…        lib/kernel/netlink.ts's ioctl lookups, name → index → name
// ioctl REQUEST        __cniHost.ioctl with an arbitrary request code on a netlink socket
// env NAME             process.env[NAME]
// flock PATH MS COUNT  COUNT lock attempts of MS each on PATH (held elsewhere): the results

import { readAllStdin } from '../../lib/cni/stdio.ts';
import { ifIndexOf, ifNameOf } from '../../lib/kernel/netlink.ts';
import { layout } from '../../lib/platform/arch.ts';
import { fs } from '../../lib/platform/fs.ts';
import { cpath, errnoCode, type Libc, libc } from '../../lib/platform/libc.ts';
import { writeAllSync } from '../../lib/platform/output.ts';
import { plainStat } from './plain-stat.ts';

// As plugins/main.ts does: the build routes a chunk's import() through this entry's (chunks carry no
// file name to resolve against).
(globalThis as { __cniImport?: (specifier: string) => Promise<unknown> }).__cniImport = (specifier) => import(specifier);

const c = libc() as Libc;
const [command = '', ...args] = process.argv.slice(3);

function attempt<T>(fn: () => T): T | { error: string } {
  try {
    return fn();
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
}

function run(): unknown {
  switch (command) {
    case 'decode': {
      const input = readAllStdin();
      const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
      const out: [string, boolean][] = [];
      const lenient = new TextDecoder();
      const fatal = new TextDecoder('utf-8', { fatal: true });
      for (let off = 0; off + 4 <= input.length; ) {
        const n = view.getUint32(off, true);
        const bytes = input.subarray(off + 4, off + 4 + n);
        off += 4 + n;
        let accepted = true;
        try {
          fatal.decode(bytes);
        } catch {
          accepted = false;
        }
        out.push([lenient.decode(bytes), accepted]);
      }
      return out;
    }
    case 'stat':
      return args.map((path) => {
        return {
          stat: attempt(() => plainStat(fs.statSync(path))),
          lstat: attempt(() => plainStat(fs.lstatSync(path))),
          statfs: attempt(() => fs.statfsSync(path).type),
        };
      });
    case 'open': {
      const [path = '', ...names] = args;
      const flags = names.reduce((f, n) => f | (layout.open as Record<string, number>)[n]!, 0);
      const fd = c.open(cpath(path), flags | layout.open.O_CLOEXEC, 0o600);
      if (fd < 0) return errnoCode(c.errno());
      c.close(fd);
      return 'ok';
    }
    case 'readdir':
      return attempt(() => fs.readdirSync(args[0] ?? ''));
    case 'ifindex':
      return args.map((name) => {
        const index = ifIndexOf('', name);
        return [index, index === undefined ? undefined : ifNameOf('', index)];
      });
    case 'ioctl': {
      const fd = c.socket(layout.socket.AF_NETLINK, layout.socket.SOCK_RAW | layout.socket.SOCK_CLOEXEC, 0);
      return attempt(() => c.ioctl(fd, Number(args[0]), new Uint8Array(layout.ifreq.bytes)));
    }
    case 'env':
      return process.env[args[0] ?? ''] ?? null;
    case 'flock': {
      const [path = '', ms = '1', count = '1'] = args;
      const fd = c.open(cpath(path), layout.open.O_RDONLY | layout.open.O_CLOEXEC, 0);
      const results: [number, number, number][] = [];
      for (let i = 0; i < Number(count); i++) {
        const start = Date.now();
        const r = c.flock(fd, layout.misc.LOCK_EX, Number(ms));
        results.push([r, r < 0 ? c.errno() : 0, Date.now() - start]);
      }
      return results;
    }
    default:
      throw new Error(`unknown probe command ${command}`);
  }
}

writeAllSync(1, `${JSON.stringify(run())}\n`);
process.exit(0);
