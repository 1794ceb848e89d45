// ip-num as the builds bundle it (scripts/ip-num-build.mjs: lazy well-known ranges, unused classes
// emptied, derived parts of an address made on first read, regular expressions made once): the
// rewrites on their own, ip-num's own classes through them against the plain package, then
// lib/net/address.ts bundled through them against the same module on the plain package, over a
// battery of IPv4 and IPv6 operations — so an emptied class that address.ts (or what it calls in
// ip-num) did use fails here, not in a plugin.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import * as plainIPNumber from 'ip-num/dist/src/IPNumber.js';
import * as plainIPRange from 'ip-num/dist/src/IPRange.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as plain from '../../lib/net/address.ts';
import {
  DERIVED,
  DERIVED_PROPERTIES,
  deriveOnRead,
  emptyClasses,
  HOISTED_REGEXPS,
  hoistRegExps,
  ipNumBuild,
  ipNumForBuild,
  lazyStatics,
  UNUSED_CLASSES,
} from '../../scripts/ip-num-build.mjs';
import { ROOT } from '../helpers/kernel.ts';

type Address = typeof plain;
type IPNum = typeof plainIPNumber & typeof plainIPRange;
const IP_NUM = join(ROOT, 'node_modules/ip-num/dist/src');
let built: Address;
let builtIPNum: IPNum;
const dir = mkdtempSync(join(tmpdir(), 'cnits-ip-num-'));

/** `contents` (TypeScript, resolved from the repository) bundled through the rewrites, imported. */
async function bundled<T>(name: string, contents: string): Promise<T> {
  const out = await build({
    stdin: { contents, resolveDir: ROOT, loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    write: false,
    plugins: [ipNumBuild as never],
    logLevel: 'silent',
  });
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, out.outputFiles[0]!.text);
  return import(pathToFileURL(file).href);
}

beforeAll(async () => {
  built = await bundled('address', `export * from './lib/net/address.ts';`);
  builtIPNum = await bundled(
    'ip-num',
    `export { IPv4, IPv6 } from 'ip-num/dist/src/IPNumber.js';\nexport { RangedSet } from 'ip-num/dist/src/IPRange.js';`,
  );
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

  it('makes a derivation run on first read of its property, once, and a regular expression once per file', () => {
    const src =
      'class IPv4 {\n    constructor(v) {\n        this.octets = [];\n        this.octets = (() => { globalThis.__runs++; return [v]; });\n    }\n}\n' +
      'exports.IPv4 = IPv4;\nclass IPv6 {\n}\nexports.IPv6 = IPv6;\n';
    // deriveOnRead needs all of ip-num's texts; the accessor itself is checked through its helper.
    expect(deriveOnRead(src).count).toBe(0);
    const withAll = `${src}${DERIVED.map((d: { from: string }) => `// ${d.from}\n`).join('')}`;
    const r = deriveOnRead(withAll);
    expect(r.count).toBe(DERIVED.length + DERIVED_PROPERTIES.length);
    const exports: Record<string, new (v: number) => { octets: number[] }> = {};
    const g = globalThis as { __runs?: number };
    g.__runs = 0;
    new Function('exports', r.code)(exports);
    const ip = new exports.IPv4!(7);
    expect(g.__runs).toBe(0);
    expect(ip.octets).toEqual([7]);
    expect(ip.octets).toBe(ip.octets);
    expect(g.__runs).toBe(1);
    delete g.__runs;

    const re = hoistRegExps('function f(x) {\n    return /^(\\d+)$/.test(x) && x.match(/.{1,8}/g).length;\n}\nexports.f = f;\n');
    expect(re.count).toBe(2);
    expect(re.code).not.toContain('/.test(');
    const fns: Record<string, (x: string) => unknown> = {};
    new Function('exports', re.code)(fns);
    expect(fns.f!('123456789')).toBe(2);
    expect(fns.f!('1a')).toBe(false);
  });

  it('finds every derivation and regular expression use it rewrites in the installed ip-num', () => {
    const files = readdirSync(IP_NUM).filter((f) => f.endsWith('.js'));
    const src = (f: string) => readFileSync(join(IP_NUM, f), 'utf8');
    expect(files.reduce((n, f) => n + deriveOnRead(src(f)).count, 0)).toBe(DERIVED.length + DERIVED_PROPERTIES.length);
    for (const r of HOISTED_REGEXPS) {
      const found = files.filter((f) => ipNumForBuild(src(f)).includes(`= ${r.literal};`));
      expect(found.length, r.literal).toBeGreaterThan(0);
    }
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

/** ip-num's own API used by address.ts (and what it derives lazily now), as plain values. */
function ipNumBattery(m: IPNum): unknown[] {
  const out: unknown[] = [];
  const t = (f: () => unknown): unknown => {
    try {
      return f();
    } catch (e) {
      return `throws ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  const describeIP = (ip: plainIPNumber.IPv4 | plainIPNumber.IPv6) => [
    ip.toString(),
    ip.value,
    ip instanceof m.IPv4 ? ip.getOctets().map((o) => [o.getValue(), o.toString()]) : null,
    ip instanceof m.IPv6 ? ip.getHexadecatet().map((h) => [h.getValue(), h.toString()]) : null,
  ];
  const v4s = ['10.1.2.3', '0.0.0.0', '255.255.255.255', '192.168.0.1', '01.2.3.4', '1.2.3', '256.1.1.1', 'a.b.c.d'];
  const v6s = [
    '::',
    '::1',
    'fd00::1',
    'ff02::1:2',
    '2001:db8::ffff:1',
    '::ffff:10.0.0.1',
    'fe80::1%eth0',
    '1:::2',
    'g::1',
    '1:2:3:4:5:6:7:8',
  ];
  for (const s of v4s) out.push(t(() => describeIP(m.IPv4.fromString(s))));
  for (const s of v6s) out.push(t(() => describeIP(m.IPv6.fromString(s))));
  for (const n of [0n, 1n, 0xa010203n, 0xffffffffn, 1n << 32n, -1n]) out.push(t(() => describeIP(m.IPv4.fromNumber(n))));
  for (const n of [0n, 1n, 0xfd00n << 112n, (1n << 128n) - 1n, 1n << 128n, 0xffffa000001n])
    out.push(t(() => describeIP(m.IPv6.fromBigInt(n))));
  for (const s of ['10.1.2.3', '255.255.255.255', '0.0.0.0']) {
    const ip = m.IPv4.fromString(s);
    out.push(
      t(() => describeIP(ip.nextIPNumber())),
      t(() => describeIP(ip.previousIPNumber())),
    );
  }
  for (const s of ['fd00::1', '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) {
    const ip = m.IPv6.fromString(s);
    out.push(
      t(() => describeIP(ip.nextIPNumber())),
      t(() => describeIP(ip.previousIPNumber())),
    );
  }
  const r = new m.RangedSet<plainIPNumber.AbstractIPNum>(m.IPv4.fromString('10.0.0.0'), m.IPv4.fromString('10.0.0.255'));
  out.push(r.getSize(), r.contains(m.RangedSet.fromSingleIP<plainIPNumber.AbstractIPNum>(m.IPv4.fromString('10.0.0.7'))));
  out.push(t(() => describeIP(r.takeSubRange(5n, 1n).getFirst() as plainIPNumber.IPv4)));
  return out;
}

describe('ip-num rewritten', () => {
  it('gives the same results as the plain package', () => {
    const plainIPNum = { ...plainIPNumber, ...plainIPRange } as IPNum;
    expect(ipNumBattery(builtIPNum)).toEqual(ipNumBattery(plainIPNum));
  });
});

describe('lib/net/address.ts on the rewritten ip-num', () => {
  it('gives the same results as on the plain package', () => {
    expect(battery(built)).toEqual(battery(plain));
  });
});
