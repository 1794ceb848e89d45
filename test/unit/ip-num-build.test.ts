// ip-num as the builds bundle it (scripts/ip-num-build.mjs: lazy well-known ranges, unused classes
// emptied): the rewrites on their own, then lib/net/address.ts bundled through them against the
// same module on the plain package, over a battery of IPv4 and IPv6 operations — so an emptied
// class that address.ts (or what it calls in ip-num) did use fails here, not in a plugin.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as plain from '../../lib/net/address.ts';
import { emptyClasses, ipNumBuild, lazyStatics, UNUSED_CLASSES } from '../../scripts/ip-num-build.mjs';
import { ROOT } from '../helpers/kernel.ts';

type Address = typeof plain;
const IP_NUM = join(ROOT, 'node_modules/ip-num/dist/src');
let built: Address;
const dir = mkdtempSync(join(tmpdir(), 'cnits-ip-num-'));

beforeAll(async () => {
  const out = await build({
    entryPoints: [join(ROOT, 'lib/net/address.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    write: false,
    plugins: [ipNumBuild as never],
    logLevel: 'silent',
  });
  const file = join(dir, 'address.mjs');
  writeFileSync(file, out.outputFiles[0]!.text);
  built = await import(pathToFileURL(file).href);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the rewrites', () => {
  it('empties the named top-level classes only, keeping their names and what follows', () => {
    const src = 'class Asn extends A {\n    f() {\n        return 1;\n    }\n}\nAsn.P = "AS";\nclass IPv4 {\n    g() { }\n}\n';
    const r = emptyClasses(src, ['Asn']);
    expect(r.count).toBe(1);
    expect(r.code).toBe('class Asn {\n}\nAsn.P = "AS";\nclass IPv4 {\n    g() { }\n}\n');
    expect(emptyClasses(src, ['Nope'])).toEqual({ code: src, count: 0 });
  });

  it('turns Class.NAME = …from…(…) into a getter computing it on first read, and leaves constants', () => {
    const src = 'X.RANGE = Y.fromCidr("10.0.0.0/8");\nX.PREFIX = "AS";\n';
    const r = lazyStatics(src);
    expect(r.count).toBe(1);
    let calls = 0;
    const X: Record<string, unknown> = {};
    const Y = {
      fromCidr: (s: string) => {
        calls++;
        return `range ${s}`;
      },
    };
    new Function('X', 'Y', r.code)(X, Y);
    expect(calls).toBe(0);
    expect(X.PREFIX).toBe('AS');
    expect(X.RANGE).toBe('range 10.0.0.0/8');
    expect(X.RANGE).toBe('range 10.0.0.0/8');
    expect(calls).toBe(1);
  });

  it('finds every class it is told to empty in the installed ip-num', () => {
    const files = readdirSync(IP_NUM).filter((f) => f.endsWith('.js'));
    const emptied = files.reduce((n, f) => n + emptyClasses(readFileSync(join(IP_NUM, f), 'utf8'), UNUSED_CLASSES).count, 0);
    expect(emptied).toBe(UNUSED_CLASSES.length);
  });
});

const ADDRESSES = [
  '10.1.2.3',
  '0.0.0.0',
  '255.255.255.255',
  '::',
  '::1',
  'fd00::1',
  'ff02::1:2',
  '2001:db8::ffff:1',
  '::ffff:10.0.0.1',
  '1.2.3',
];
const CIDRS = [
  '10.1.0.0/16',
  '10.1.2.3/24',
  '192.168.1.255/32',
  '0.0.0.0/0',
  'fd00::/64',
  'fd00::1:0/112',
  '2001:db8::/32',
  '::/0',
  'ff00::/8',
  '10.0.0.0/33',
];

/** Every operation address.ts exports, over the lists above, as plain values (a throw as its message). */
function battery(a: Address): unknown[] {
  const out: unknown[] = [];
  const t = (f: () => unknown): unknown => {
    try {
      return f();
    } catch (e) {
      return `throws ${(e as Error).message}`;
    }
  };
  const ips = ADDRESSES.map((s) => a.parseIP(s));
  const cidrs = CIDRS.map((s) => a.parseCidr(s));
  for (const ip of ips) {
    if (!ip) continue;
    out.push(a.formatIP(ip), [...a.ipBytes(ip)], ip.family);
    out.push(
      t(() => a.formatIP(a.nextIP(ip))),
      t(() => a.formatIP(a.previousIP(ip))),
    );
    for (const n of [7n, -1000n, 1n << 40n]) out.push(t(() => a.formatIP(a.addToIP(ip, n))));
  }
  for (const c of cidrs) {
    if (!c) {
      out.push(null);
      continue;
    }
    out.push(a.formatCidr(c), a.formatIP(a.networkOf(c)), a.formatIP(a.lastOf(c)), a.hasHostBits(c), a.formatCidr(a.canonicalCidr(c)));
    out.push(a.rangeSize(a.networkOf(c), a.lastOf(c)));
    for (const ip of ips) if (ip) out.push(a.contains(c, ip), a.inRange(a.networkOf(c), a.lastOf(c), ip));
    for (const d of cidrs) if (d) out.push(a.overlaps(c, d));
  }
  for (const s of [...ADDRESSES, ...CIDRS]) out.push(a.familyOfAddress(s), a.canonicalIPString(s), a.parseIPOrCidr(s)?.prefix);
  for (const x of ips) for (const y of ips) if (x && y && x.family === y.family) out.push(a.compareIP(x, y), a.ipEqual(x, y));
  return out;
}

describe('lib/net/address.ts on the rewritten ip-num', () => {
  it('gives the same results as on the plain package', () => {
    expect(battery(built)).toEqual(battery(plain));
  });
});
