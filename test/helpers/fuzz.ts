// Shared pieces of the reliability suite (fuzz, fault injection, stress): a seeded PRNG, a
// mutation fuzzer over valid configs and CNI_* environments, the error-document checker, and
// snapshots of a node namespace's kernel state and of a directory tree, so a test can prove that
// a run changed nothing.
//
// Everything is reproducible from one seed: a failure message always names the seed and the
// case number, and `CNI_TS_FUZZ_SEED=<seed>` replays the same inputs.
import { spawn } from 'node:child_process';
import { appendFileSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode } from '../../lib/cni/errors.ts';
import { type Netns, trySh } from './kernel.ts';

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** mulberry32: small, fast, good enough to drive a fuzzer; the same seed gives the same stream. */
export class Rand {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** The run's seed: from `CNI_TS_FUZZ_SEED` to replay, else fresh (and printed on failure). */
export function seedFromEnv(): number {
  const s = process.env.CNI_TS_FUZZ_SEED;
  return s ? Number(s) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

/** An iteration count that CI keeps small and the soak run raises (`CNI_TS_<NAME>=n`). */
export function countFromEnv(name: string, ciDefault: number): number {
  const v = Number(process.env[`CNI_TS_${name}`]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : ciDefault;
}

/** Append counters to the soak summary file (`CNI_TS_RELIABILITY_SUMMARY`), if one is asked for. */
export function recordCounts(suite: string, counts: Record<string, number>): void {
  const file = process.env.CNI_TS_RELIABILITY_SUMMARY;
  if (file) appendFileSync(file, `${JSON.stringify({ suite, ...counts })}\n`);
}

// ---------------------------------------------------------------------------------------------
// The error document

/** Every code the README's error table documents. */
export const DOCUMENTED_CODES = new Set<number>(Object.values(ErrorCode));

const STACK_RE = /\n\s+at |at .*\.(?:ts|js|mjs|cjs):\d+|node:internal|Error: .*\n/;

/**
 * Problems with the output of a failed run: it must be exactly one JSON object
 * `{cniVersion, code, msg, details?}` with a documented code, no stack trace, non-zero exit.
 * Returns [] when it is well-formed.
 */
export function errorDocumentProblems(stdout: string, exitCode: number): string[] {
  const problems: string[] = [];
  if (exitCode === 0) problems.push('exit status 0 for an error');
  if (STACK_RE.test(stdout)) problems.push('stack trace on stdout');
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    return [...problems, `stdout is not one JSON document: ${JSON.stringify(stdout.slice(0, 200))}`];
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return [...problems, 'error is not a JSON object'];
  const e = doc as Record<string, unknown>;
  const extra = Object.keys(e).filter((k) => !['cniVersion', 'code', 'msg', 'details'].includes(k));
  if (extra.length) problems.push(`unexpected keys ${extra.join(',')}`);
  if (typeof e.cniVersion !== 'string' || !/^\d+\.\d+\.\d+$/.test(e.cniVersion))
    problems.push(`bad cniVersion ${JSON.stringify(e.cniVersion)}`);
  if (typeof e.code !== 'number' || !DOCUMENTED_CODES.has(e.code)) problems.push(`undocumented code ${JSON.stringify(e.code)}`);
  if (typeof e.msg !== 'string' || e.msg === '') problems.push('empty msg');
  if (e.details !== undefined && typeof e.details !== 'string') problems.push('details is not a string');
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Mutation fuzzer

/** One fuzz input: the environment (undefined = unset) and the raw stdin bytes. */
export interface FuzzCase {
  env: Record<string, string | undefined>;
  stdin: Buffer;
  /** What was mutated, for the failure message. */
  notes: string[];
}

/** The places a test lets the fuzzer point CNI_NETNS at. */
export interface NetnsChoices {
  /** A real pod namespace (may be absent in unit tests). */
  ok?: string;
  /** The namespace the plugin itself runs in: must always be refused. */
  own: string;
  /** A regular file: must always be refused. */
  regularFile: string;
  missing: string;
}

export interface FuzzContext {
  /** A valid CNI_ARGS/CNI_PATH etc. baseline. */
  env: Record<string, string>;
  netns: NetnsChoices;
  /** A directory the fuzzer may point dataDir into (everything it makes stays inside). */
  sandbox: string;
  /** Allow NUL bytes in env values (only in-process: a real exec cannot carry them). */
  nulInEnv: boolean;
  /** Allow inputs of tens of MB (costly: use for a handful of cases). */
  huge: boolean;
}

const HOSTILE_STRINGS = [
  '',
  ' ',
  '..',
  '.',
  '/',
  '../../../../etc',
  'a/b',
  'a\u0000b',
  '\u0000',
  '\ud800', // a lone surrogate: valid JSON escape, invalid UTF-16
  'é'.repeat(8),
  '$(touch /tmp/cni-ts-pwned)',
  '`id`',
  '; rm -rf /',
  '"quoted"',
  'x'.repeat(300),
  'x'.repeat(70_000),
  '-v',
  '--help',
  'eth0',
  'lo',
  '\n',
  'a b',
  '#comment',
];

const HOSTILE_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  -1e308,
  2 ** 53 + 1,
  [],
  {},
  [null],
  { '': '' },
  { __proto__: { polluted: true } },
  JSON.parse('{"__proto__": {"polluted": true}}'),
  { constructor: { prototype: { polluted: true } } },
  '10.0.0.0/33',
  '300.1.1.1/24',
  '::/0',
  '0.0.0.0/0',
  '10.0.0.1/24',
  '10.77.0.0/31',
  '10.77.0.0/32',
  'fe80::/64',
  '1.2.3.4::',
  'ff:ff:ff:ff:ff:ff',
  '01:00:5e:00:00:01',
  65536,
  67,
  4095,
  ...HOSTILE_STRINGS,
];

const VERSIONS: unknown[] = [
  '0.1.0',
  '0.2.0',
  '0.3.0',
  '0.3.1',
  '0.4.0',
  '1.0.0',
  '1.1.0',
  '2.0.0',
  '1.1',
  '1.1.0-rc1',
  'v1.0.0',
  '',
  1,
  null,
  ' 1.0.0',
  '0.0.0',
  '99999999999999999999.0.0',
];
const COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION', 'add', 'ADD ', '', 'REMOVE', 'UPDATE', 'A'.repeat(1000)];
const CONTAINER_IDS = [
  'c0ffee',
  '',
  '-leading-dash',
  '.hidden',
  'a b',
  'a/b',
  '..',
  'id;rm',
  'x'.repeat(5000),
  'ümlaut',
  'ok_id.with-dots',
  '$(id)',
  'a\nb',
];
const IFNAMES = [
  'eth0',
  'net1',
  '',
  'a'.repeat(16),
  'a'.repeat(15),
  '.',
  '..',
  'a/b',
  'a b',
  'eth:0',
  'eth0\n',
  'é'.repeat(8),
  'lo',
  'eth"0',
  'eth#0',
  'eth\\0',
  '-x',
];
const CNI_ARGS = [
  '',
  'IgnoreUnknown=1',
  'IgnoreUnknown=1;IP=10.77.0.50',
  'IP=bogus',
  'IP=10.77.0.0',
  'IP=10.77.0.255',
  'IP=192.0.2.7',
  'IP=10.77.0.60,10.77.0.61',
  'K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-1',
  'K8S_POD_NAMESPACE=../..;K8S_POD_NAME=/',
  'a',
  '=;=',
  'A=B=C',
  ';;;',
  'FOO=bar',
  'IgnoreUnknown=maybe;FOO=bar',
  'IgnoreUnknown=true;FOO=bar',
  'MAC=zz:zz',
  'MAC=01:00:5e:00:00:01',
  'MAC=0a:58:0a:4d:00:09',
  'x'.repeat(100_000),
];

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** Every path (array of keys) into a JSON value, objects and arrays alike. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (typeof v === 'object' && v !== null) {
    for (const [k, child] of Object.entries(v)) {
      const p = [...prefix, Array.isArray(v) ? Number(k) : k];
      out.push(p);
      paths(child, p, out);
    }
  }
  return out;
}

function setAt(root: Record<string, unknown>, path: (string | number)[], value: unknown, remove = false): void {
  // Own properties only: a config may hold an own "__proto__" key (JSON.parse makes one), and
  // `v[k]` would walk into Object.prototype instead and pollute the test process.
  let v: any = root;
  for (const k of path.slice(0, -1)) {
    v = Object.getOwnPropertyDescriptor(v, k)?.value;
    if (typeof v !== 'object' || v === null) return;
  }
  const last = path[path.length - 1]!;
  if (remove) {
    if (Array.isArray(v)) v.splice(Number(last), 1);
    else delete v[last];
  } else Object.defineProperty(v, last, { value, enumerable: true, writable: true, configurable: true });
}

function deepNesting(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/**
 * Deeply nested values cannot be built as objects (JSON.stringify would overflow the stack):
 * a marker string stands in for them and is expanded after serialization.
 */
const deepMarker = (depth: number, kind: 'array' | 'object') => `@@deep:${depth}:${kind}@@`;
const expandDeepMarkers = (text: string) =>
  text.replace(/"@@deep:(\d+):(array|object)@@"/g, (_, d: string, k: 'array' | 'object') => deepNesting(Number(d), k));

/** A hostile data directory, kept inside `sandbox` (absolute, with `..`, NUL, odd characters). */
function hostileDataDir(r: Rand, sandbox: string): unknown {
  return r.pick<unknown>([
    `${sandbox}/a/../b`,
    `${sandbox}/./c`,
    `${sandbox}/d\u0000e`,
    `${sandbox}//f//`,
    `${sandbox}/${'g'.repeat(300)}`,
    `${sandbox}/h i`,
    `${sandbox}/\n`,
    `${sandbox}/lease-is-a-file`,
    '',
    null,
    7,
    ['x'],
  ]);
}

/** Structure-level mutations of a config object. */
function mutateObject(r: Rand, config: Record<string, unknown>, ctx: FuzzContext, notes: string[]): Record<string, unknown> {
  const c = clone(config);
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    const all = paths(c);
    switch (r.int(9)) {
      case 0: {
        const p = r.pick(all);
        const v = r.pick(HOSTILE_VALUES);
        setAt(c, p, clone(v));
        notes.push(`set ${p.join('.')}=${JSON.stringify(v)?.slice(0, 40)}`);
        break;
      }
      case 1: {
        const p = r.pick(all);
        setAt(c, p, undefined, true);
        notes.push(`delete ${p.join('.')}`);
        break;
      }
      case 2: {
        const v = r.pick(VERSIONS);
        c.cniVersion = v;
        notes.push(`cniVersion=${JSON.stringify(v)}`);
        break;
      }
      case 3: {
        const v = r.pick<unknown>([...HOSTILE_STRINGS, 5, null, 'net.work', 'a'.repeat(255), 'a'.repeat(4096), '_x', 'x-']);
        c.name = v;
        notes.push(`name=${JSON.stringify(v)?.slice(0, 40)}`);
        break;
      }
      case 4: {
        if (typeof c.ipam === 'object' && c.ipam !== null) {
          const v = hostileDataDir(r, ctx.sandbox);
          (c.ipam as Record<string, unknown>).dataDir = v;
          notes.push(`ipam.dataDir=${JSON.stringify(v)?.slice(0, 60)}`);
        }
        break;
      }
      case 5: {
        const key = r.pick([
          'unknownKey',
          'IPAM',
          'Name',
          'type',
          '__proto__',
          'constructor',
          'prevResult',
          'runtimeConfig',
          'args',
          'capabilities',
          '',
        ]);
        const v = r.pick(HOSTILE_VALUES);
        c[key] = clone(v);
        notes.push(`add ${key}=${JSON.stringify(v)?.slice(0, 40)}`);
        break;
      }
      case 6: {
        // A plausible but wrong prevResult (DEL/CHECK read it).
        c.prevResult = r.pick<unknown>([
          { cniVersion: '1.1.0', interfaces: [{ name: 'lo' }], ips: [{ address: '10.77.0.9/24', interface: 0 }] },
          {
            cniVersion: '1.1.0',
            interfaces: [{ name: 'veth-not-ours' }, { name: 'eth0', sandbox: '/x' }],
            ips: [{ address: 'bogus', interface: 7 }],
          },
          { cniVersion: '0.2.0', ip4: { ip: '10.77.0.9/24', gateway: 'x' } },
          { cniVersion: '9.9.9' },
          'string',
          [],
          deepMarker(2000, 'object'),
        ]);
        notes.push('prevResult');
        break;
      }
      case 7: {
        const p = r.pick(all);
        setAt(c, p, deepMarker(1 + r.int(50_000), r.chance(0.5) ? 'array' : 'object'));
        notes.push(`deep nesting at ${p.join('.')}`);
        break;
      }
      case 8: {
        if (typeof c.ipam === 'object' && c.ipam !== null) {
          const ipam = c.ipam as Record<string, unknown>;
          const v = r.pick<unknown>([
            [[{ subnet: r.pick(HOSTILE_VALUES) }]],
            [[{ subnet: '10.77.0.0/24', rangeStart: '10.77.0.200', rangeEnd: '10.77.0.100' }]],
            [[{ subnet: '10.77.0.0/24', gateway: '10.78.0.1' }]],
            [[{ subnet: '10.77.0.0/30' }]],
            [[{ subnet: '10.77.0.0/24' }, { subnet: '10.77.0.0/25' }]],
            [[{ subnet: 'fd00:77::/64' }], [{ subnet: 'fd00:78::/120' }]],
            [],
            [[]],
          ]);
          ipam.ranges = v;
          notes.push(`ipam.ranges=${JSON.stringify(v).slice(0, 80)}`);
        }
        break;
      }
    }
  }
  return c;
}

/** Byte-level mutations of the serialized config. */
function mutateBytes(r: Rand, text: string, ctx: FuzzContext, notes: string[]): Buffer {
  const buf = Buffer.from(text);
  switch (r.int(ctx.huge ? 12 : 10)) {
    case 0:
      notes.push('truncated');
      return buf.subarray(0, r.int(buf.length));
    case 1: {
      const at = r.int(buf.length);
      const bad = r.pick([[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xc0, 0xaf]]);
      notes.push(`invalid UTF-8 at ${at}`);
      return Buffer.concat([buf.subarray(0, at), Buffer.from(bad), buf.subarray(at)]);
    }
    case 2: {
      const at = r.int(buf.length);
      const copy = Buffer.from(buf);
      copy[at] = r.int(256);
      notes.push(`byte ${at} flipped`);
      return copy;
    }
    case 3:
      notes.push('BOM');
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), buf]);
    case 4:
      notes.push('trailing garbage');
      return Buffer.concat([buf, Buffer.from(r.pick(['}', ' {}', 'x', '\u0000', '\n{"a":1}']))]);
    case 5: {
      const v = r.pick([
        '',
        ' ',
        'null',
        '[]',
        '"string"',
        '1',
        'true',
        '{',
        '}',
        '{"name":}',
        '\u0000',
        '{"cniVersion":"1.1.0","name":"x"',
        "{'name':'x'}",
        'NaN',
      ]);
      notes.push(`replaced by ${JSON.stringify(v)}`);
      return Buffer.from(v);
    }
    case 6:
      notes.push('duplicate keys');
      return Buffer.from(text.replace(/^\{/, '{"name":"first","cniVersion":"0.0.1",'));
    case 7: {
      const depth = r.pick([100, 1000, 10_000, 100_000]);
      notes.push(`deep nesting ${depth}`);
      return Buffer.from(text.replace(/^\{/, `{"deep":${deepNesting(depth, r.chance(0.5) ? 'array' : 'object')},`));
    }
    case 8:
      notes.push('UTF-16 encoded');
      return Buffer.from(text, 'utf16le');
    case 9:
      notes.push('NUL bytes around');
      return Buffer.concat([Buffer.from([0]), buf, Buffer.from([0])]);
    case 10: {
      const mb = r.pick([20, 40]);
      notes.push(`${mb} MB unknown key`);
      return Buffer.from(text.replace(/^\{/, `{"padding":"${'x'.repeat(mb * 1024 * 1024)}",`));
    }
    default:
      notes.push('70 MB garbage');
      return Buffer.alloc(70 * 1024 * 1024, 0x41);
  }
}

function mutateEnv(r: Rand, env: Record<string, string | undefined>, ctx: FuzzContext, notes: string[]): void {
  const n = 1 + r.int(2);
  for (let i = 0; i < n; i++) {
    switch (r.int(7)) {
      case 0:
        env.CNI_COMMAND = r.chance(0.1) ? undefined : r.pick(COMMANDS);
        break;
      case 1:
        env.CNI_CONTAINERID = r.chance(0.1) ? undefined : r.pick(CONTAINER_IDS);
        break;
      case 2:
        env.CNI_IFNAME = r.chance(0.1) ? undefined : r.pick(IFNAMES);
        break;
      case 3: {
        const { ok, own, regularFile, missing } = ctx.netns;
        env.CNI_NETNS = r.pick([
          ok ?? missing,
          own,
          regularFile,
          missing,
          '',
          '/proc/self/ns/net',
          '/dev/null',
          '/',
          'relative/path',
          '/proc/self/ns/mnt',
          undefined,
        ]);
        break;
      }
      case 4:
        env.CNI_ARGS = r.pick(CNI_ARGS);
        break;
      case 5:
        env.CNI_PATH = r.pick([undefined, '', '/nonexistent', '::', `${ctx.env.CNI_PATH}:/nonexistent`, '/', ctx.sandbox]);
        break;
      case 6:
        if (ctx.nulInEnv) env[r.pick(['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_ARGS'])] = 'a\u0000b';
        else env.CNI_UNKNOWN_VARIABLE = r.pick(HOSTILE_STRINGS.filter((s) => !s.includes('\u0000')));
        break;
    }
  }
  notes.push(`env ${JSON.stringify(env).slice(0, 300)}`);
}

/**
 * One fuzz case from a valid (config, env): some mix of object-level, byte-level and
 * environment mutations (about 1 in 8 cases keeps everything valid but the command).
 */
export function fuzzCase(r: Rand, config: Record<string, unknown>, ctx: FuzzContext): FuzzCase {
  const notes: string[] = [];
  const env: Record<string, string | undefined> = { ...ctx.env };
  let obj = config;
  const kind = r.int(8);
  if (kind <= 3 || kind === 6) obj = mutateObject(r, config, ctx, notes);
  let stdin: Buffer = Buffer.from(expandDeepMarkers(JSON.stringify(obj)));
  if (kind === 4 || kind === 6) stdin = mutateBytes(r, stdin.toString(), ctx, notes);
  if (kind === 5 || kind === 6 || (kind <= 3 && r.chance(0.3))) mutateEnv(r, env, ctx, notes);
  if (kind === 7) {
    env.CNI_COMMAND = r.pick(['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION']);
    notes.push(`valid ${env.CNI_COMMAND}`);
  }
  return { env, stdin, notes };
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/**
 * The kernel state of a node namespace that a plugin run may change: links, addresses, routes
 * (both families, all tables), neighbour-independent sysctls are left out (ADD sets forwarding by
 * design), firewall rulesets of both backends. Counters and volatile fields are dropped.
 */
export function kernelSnapshot(node: Netns): string {
  // Carrier flags and IPv6 link-local addresses/routes come and go on their own (a bridge losing
  // its last port, DAD finishing): they are not a plugin's doing, so they are left out.
  const linkLocal = (a: string | undefined) => /^(fe80|ff0[0-9a-f]):/i.test(a ?? '') || a === 'ff00::/8' || a === 'fe80::/64';
  const links = node.ipJson('-details', 'link', 'show').map((l: any) => ({
    ifname: l.ifname,
    kind: l.linkinfo?.info_kind,
    master: l.master,
    address: l.address,
    mtu: l.mtu,
    up: (l.flags ?? []).includes('UP'),
  }));
  const addrs = node.ipJson('addr', 'show').map((l: any) => [
    l.ifname,
    (l.addr_info ?? [])
      .filter((a: any) => !linkLocal(a.local))
      .map((a: any) => `${a.local}/${a.prefixlen}`)
      .sort(),
  ]);
  const routes = [...node.ipJson('-4', 'route', 'show', 'table', 'all'), ...node.ipJson('-6', 'route', 'show', 'table', 'all')]
    .filter((r: any) => !linkLocal(r.dst) && r.type !== 'multicast')
    .map((r: any) => `${r.dst} ${r.gateway ?? ''} ${r.dev ?? ''} ${r.table ?? ''} ${r.type ?? ''}`)
    .sort();
  return `${JSON.stringify({ links, addrs, routes }, null, 1)}\n${firewallSnapshot(node)}`;
}

/**
 * iptables/ip6tables/nft rules without counters. What iptables creates on its own and never
 * removes (the built-in tables and their empty built-in chains, e.g. `ip6 nat` after the first
 * IPv6 masquerade rule came and went) is not attachment state: only rules and non-built-in
 * chains count, and iptables-nft's own tables are compared through iptables-save.
 */
export function firewallSnapshot(node: Netns): string {
  const BUILTIN = /^:(PREROUTING|INPUT|OUTPUT|FORWARD|POSTROUTING) /;
  const strip = (s: string) =>
    s
      .split('\n')
      .filter((l) => l.startsWith('-A') || (l.startsWith(':') && !BUILTIN.test(l)))
      .map((l) => l.replace(/\[\d+:\d+\]/g, '[]'))
      .join('\n');
  const IPTABLES_OWN = /^table (ip|ip6) (nat|filter|mangle|raw|security) \{/;
  const nftTables = node
    .tryExec('nft', ['list', 'ruleset'])
    .stdout.replace(/counter packets \d+ bytes \d+/g, 'counter')
    .split(/\n(?=table )/)
    .map((block) => block.trim())
    .filter((block) => block && !IPTABLES_OWN.test(block))
    .sort();
  return [strip(node.tryExec('iptables-save', []).stdout), strip(node.tryExec('ip6tables-save', []).stdout), ...nftTables].join('\n');
}

/** Every entry under `dir`: relative path, type, mode, size and (for small files) content. */
export function treeSnapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const abs = join(dir, rel);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return;
    }
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      out.set(rel || '.', `dir ${mode}`);
      for (const name of readdirSync(abs)) walk(rel ? `${rel}/${name}` : name);
    } else if (st.isSymbolicLink()) {
      out.set(rel, `link -> ${readlinkSync(abs)}`);
    } else {
      out.set(rel, `file ${mode} ${st.size} ${st.size < 4096 ? JSON.stringify(readFileSync(abs, 'latin1')) : ''}`);
    }
  };
  walk('');
  return out;
}

/** Human-readable difference of two tree snapshots ("" when equal). */
export function treeDiff(before: Map<string, string>, after: Map<string, string>): string {
  const lines: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) lines.push(`${before.has(k) ? '~' : '+'} ${k}: ${v}`);
  for (const [k, v] of before) if (!after.has(k)) lines.push(`- ${k}: ${v}`);
  return lines.join('\n');
}

/** Line diff of two text snapshots, for failure messages. */
export function textDiff(before: string, after: string): string {
  if (before === after) return '';
  const a = new Set(before.split('\n'));
  const b = new Set(after.split('\n'));
  return (
    [...[...a].filter((l) => !b.has(l)).map((l) => `- ${l}`), ...[...b].filter((l) => !a.has(l)).map((l) => `+ ${l}`)].join('\n') ||
    '(reordered)'
  );
}

// ---------------------------------------------------------------------------------------------
// Nodes and leases

export { nodeWithUplink, UPLINK } from './examples.ts';

/** Lease files of one network: address → raw content. */
export function leaseContents(dataDir: string, network: string): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(join(dataDir, network));
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'lock' || name.startsWith('last_reserved_ip') || name.startsWith('.')) continue;
    try {
      out.set(name, readFileSync(join(dataDir, network, name), 'latin1'));
    } catch {
      /* released while we listed */
    }
  }
  return out;
}

/** A lease must be complete: exactly "<id>\r\n<ifname>". */
export const LEASE_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*\r\n[^\s/:]{1,15}$/;

/** Can the lock be taken right now (no process holds it)? */
export function lockIsFree(lockPath: string): boolean {
  return trySh('flock', ['-n', lockPath, 'true']).code === 0;
}

// ---------------------------------------------------------------------------------------------
// Raw plugin runs

export interface RawRun {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a plugin executable inside `node` with exactly this environment (unset = absent) and these
 * stdin bytes — runPlugin only takes text and always sets CNI_PATH, a fuzzer needs both freedoms.
 */
export function runRaw(node: Netns, exe: string, env: Record<string, string | undefined>, stdin: Buffer, cwd?: string): Promise<RawRun> {
  const full: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) full[k] = v;
  return new Promise((resolvePromise) => {
    // A mutation may drop or blank ipam.dataDir, sending host-local to its default under
    // /var/lib/cni: run each process in a private mount namespace with a throwaway /var/lib so
    // the machine's own state is never touched. "$@" carries the arguments; no string is parsed.
    const argv = [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'mount -t tmpfs cnits-fuzz /var/lib && exec "$@"',
      'sh',
      'ip',
      'netns',
      'exec',
      node.name,
      exe,
    ];
    const child = spawn('unshare', argv, { env: full, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.stdin.on('error', () => {}); // a plugin that refuses early stops reading: EPIPE is fine
    child.stdin.end(stdin);
    child.on('close', (code, signal) =>
      resolvePromise({ code: code ?? 128, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}

/** Lease files and crashed writers' temp files anywhere under `dir` (any network, any dataDir). */
export function leaseLikeFiles(dir: string): string[] {
  return [...treeSnapshot(dir).entries()]
    .filter(
      ([path, desc]) => desc.startsWith('file') && /(^|\/)([0-9.]+|[0-9a-f:]*:[0-9a-f:.]*|\.cni-ts-tmp\..*|\.cni-ts\/tmp\..*)$/i.test(path),
    )
    .map(([path]) => path);
}
