// lib/cni/result-format.ts and lib/cni/result-parse.ts: every pair of versions, table-driven.
//
// Model: each version carries a level of information — legacy (0.1/0.2: first IPv4 and IPv6 with
// their routes), current (0.3.x/0.4: interfaces name/mac/sandbox, every ip, routes dst/gw),
// 1.0 (same information, no `version`) and 1.1 (everything). Converting a result from version A
// to version B keeps the information both levels can carry, printed in B's shape.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../lib/cni/errors.ts';
import { compactDns, formatResult } from '../../lib/cni/result-format.ts';
import { parseResult } from '../../lib/cni/result-parse.ts';
import type { Result } from '../../lib/cni/types.ts';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.ts';
import { errorOf } from '../helpers/cni-error.ts';

const SANDBOX = '/var/run/netns/cni-1234';

/** The internal (1.1) result every table row starts from. */
const FULL: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:01:00:01', mtu: 1500 },
    { name: 'veth1234', mac: '0a:58:0a:01:00:02' },
    { name: 'eth0', mac: '0a:58:0a:01:00:05', mtu: 1450, sandbox: SANDBOX, socketPath: '/run/vhost.sock', pciID: '0000:00:01.0' },
  ],
  ips: [
    { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 },
    { address: '10.1.1.7/24', interface: 2 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 0 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, advmss: 1360, priority: 10, table: 0, scope: 0 },
    { dst: '10.9.0.0/16' },
    { dst: '::/0', gw: 'fd00::1' },
  ],
  dns: { nameservers: ['10.1.0.53'], domain: '', search: [], options: ['ndots:5'] },
};

const DNS = { nameservers: ['10.1.0.53'], options: ['ndots:5'] };
const LEGACY_BODY = {
  ip4: { ip: '10.1.0.5/24', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '10.9.0.0/16' }] },
  ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0', gw: 'fd00::1' }] },
  dns: DNS,
};
const PLAIN_ROUTES = [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '10.9.0.0/16' }, { dst: '::/0', gw: 'fd00::1' }];
const PLAIN_INTERFACES = [
  { name: 'cni0', mac: '0a:58:0a:01:00:01' },
  { name: 'veth1234', mac: '0a:58:0a:01:00:02' },
  { name: 'eth0', mac: '0a:58:0a:01:00:05', sandbox: SANDBOX },
];

type Level = 'legacy' | 'current' | 'v10' | 'v11';
const LEVEL_RANK: Record<Level, number> = { legacy: 0, current: 1, v10: 2, v11: 3 };
const levelOf = (v: string): Level =>
  v === '0.1.0' || v === '0.2.0' ? 'legacy' : v === '1.0.0' ? 'v10' : v === '1.1.0' ? 'v11' : 'current';
const minLevel = (a: Level, b: Level): Level => (LEVEL_RANK[a] <= LEVEL_RANK[b] ? a : b);

/** What a result carrying `level` information looks like printed as `version`. */
function expected(level: Level, version: string): Record<string, unknown> {
  const shape = levelOf(version);
  if (shape === 'legacy') return { cniVersion: version, ...LEGACY_BODY };
  const withVersion = shape === 'current';
  const v = (fam: '4' | '6') => (withVersion ? { version: fam } : {});
  if (level === 'legacy') {
    return {
      cniVersion: version,
      ips: [
        { ...v('4'), address: '10.1.0.5/24', gateway: '10.1.0.1' },
        { ...v('6'), address: 'fd00::5/64', gateway: 'fd00::1' },
      ],
      routes: PLAIN_ROUTES,
      dns: DNS,
    };
  }
  const ips = [
    { ...v('4'), interface: 2, address: '10.1.0.5/24', gateway: '10.1.0.1' },
    { ...v('4'), interface: 2, address: '10.1.1.7/24' },
    { ...v('6'), interface: 0, address: 'fd00::5/64', gateway: 'fd00::1' },
  ];
  if (level === 'v11' && shape === 'v11') {
    return {
      cniVersion: version,
      interfaces: [
        { name: 'cni0', mac: '0a:58:0a:01:00:01', mtu: 1500 },
        { name: 'veth1234', mac: '0a:58:0a:01:00:02' },
        { name: 'eth0', mac: '0a:58:0a:01:00:05', mtu: 1450, sandbox: SANDBOX, socketPath: '/run/vhost.sock', pciID: '0000:00:01.0' },
      ],
      ips,
      routes: [
        { dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, advmss: 1360, priority: 10, table: 0, scope: 0 },
        { dst: '10.9.0.0/16' },
        { dst: '::/0', gw: 'fd00::1' },
      ],
      dns: DNS,
    };
  }
  return { cniVersion: version, interfaces: PLAIN_INTERFACES, ips, routes: PLAIN_ROUTES, dns: DNS };
}

const pairs = SUPPORTED_VERSIONS.flatMap((from) => SUPPORTED_VERSIONS.map((to) => [from, to] as const));

describe('formatResult: the internal model in every version', () => {
  it.each(SUPPORTED_VERSIONS.map((v) => [v]))('%s', async (version) => {
    expect(formatResult(FULL, version)).toEqual(expected('v11', version));
  });

  it('prints exactly the requested version string', async () => {
    for (const v of SUPPORTED_VERSIONS) expect(formatResult(FULL, v).cniVersion).toBe(v);
  });
});

describe('conversion between every pair of versions', () => {
  it.each(pairs)('%s → %s', async (from, to) => {
    const source = expected('v11', from); // what a plugin speaking `from` printed
    const converted = formatResult(await parseResult(source, from), to);
    expect(converted).toEqual(expected(minLevel(levelOf(from), levelOf(to)), to));
  });

  it.each(SUPPORTED_VERSIONS.map((v) => [v]))('%s → itself is the identity', async (v) => {
    const source = expected(levelOf(v), v);
    expect(formatResult(await parseResult(source, v), v)).toEqual(source);
  });
});

describe('legacy 0.1.0/0.2.0 (ip4/ip6) specifics', () => {
  it('keeps only the first address of each family and drops interfaces', async () => {
    const out = formatResult(FULL, '0.2.0');
    expect(out.ip4).toMatchObject({ ip: '10.1.0.5/24' });
    expect(out).not.toHaveProperty('interfaces');
    expect(out).not.toHaveProperty('ips');
    expect(out).not.toHaveProperty('routes');
  });

  it('splits routes by the family of dst and drops a family without an address', async () => {
    const r: Result = {
      cniVersion: '1.1.0',
      ips: [{ address: 'fd00::5/64' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: 'fd01::/64' }],
    };
    expect(formatResult(r, '0.2.0')).toEqual({ cniVersion: '0.2.0', ip6: { ip: 'fd00::5/64', routes: [{ dst: 'fd01::/64' }] } });
  });

  it('an IPv4-only result has no ip6 block, and no routes key when there are none', async () => {
    const r: Result = { cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/8' }] };
    expect(formatResult(r, '0.1.0')).toEqual({ cniVersion: '0.1.0', ip4: { ip: '10.0.0.2/8' } });
  });

  it('a result without addresses cannot be expressed → CniError', async () => {
    for (const r of [{ cniVersion: '1.1.0' }, { cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }], ips: [] }] as Result[]) {
      for (const v of ['0.1.0', '0.2.0']) {
        const err = errorOf(() => formatResult(r, v));
        expect(err.code).toBe(ErrorCode.IncompatibleVersion);
        expect(err.message).toContain('no IP addresses');
      }
    }
  });

  it('up-converts ip4/ip6 into ips with version, routes concatenated ip4 first', async () => {
    const legacy = {
      cniVersion: '0.2.0',
      ip6: { ip: 'fd00::5/64', routes: [{ dst: '::/0' }] },
      ip4: { ip: '10.0.0.2/8', routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] },
    };
    expect(formatResult(await parseResult(legacy, '0.2.0'), '0.4.0')).toEqual({
      cniVersion: '0.4.0',
      ips: [
        { version: '4', address: '10.0.0.2/8' },
        { version: '6', address: 'fd00::5/64' },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '::/0' }],
    });
  });
});

describe('0.3/0.4 and 1.x specifics', () => {
  it('derives ips[].version from the address, not from the input', async () => {
    const r = await parseResult({ cniVersion: '0.4.0', ips: [{ version: '4', address: 'fd00::5/64' }] }, '0.4.0');
    expect(formatResult(r, '0.3.1').ips).toEqual([{ version: '6', address: 'fd00::5/64' }]);
  });

  it('keeps interface index 0, route table 0 and scope 0 (0 is meaningful)', async () => {
    const r: Result = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0' }],
      ips: [{ address: '10.0.0.2/8', interface: 0 }],
      routes: [{ dst: '10.0.0.0/8', table: 0, scope: 0 }],
    };
    const out = formatResult(r, '1.1.0') as { ips: { interface?: number }[]; routes: { table?: number; scope?: number }[] };
    expect(out.ips[0]!.interface).toBe(0);
    expect(out.routes[0]).toEqual({ dst: '10.0.0.0/8', table: 0, scope: 0 });
  });

  it('a 1.0.0 result carrying 1.1 fields (Go shares the struct) parses and keeps them for 1.1.0', async () => {
    const go10 = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mtu: 1400 }], routes: [{ dst: '0.0.0.0/0', priority: 5 }] };
    const r = await parseResult(go10, '1.0.0');
    expect(formatResult(r, '1.1.0')).toEqual({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mtu: 1400 }],
      routes: [{ dst: '0.0.0.0/0', priority: 5 }],
    });
    expect(formatResult(r, '1.0.0')).toEqual({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], routes: [{ dst: '0.0.0.0/0' }] });
  });

  it('omits empty lists and an all-empty dns (Go omitempty)', async () => {
    const r: Result = {
      cniVersion: '1.1.0',
      interfaces: [],
      ips: [],
      routes: [],
      dns: { nameservers: [], domain: '', search: [], options: [] },
    };
    for (const v of ['0.3.0', '0.4.0', '1.0.0', '1.1.0']) expect(formatResult(r, v)).toEqual({ cniVersion: v });
  });

  it('an IPAM-style result (no interfaces, no interface index) stays that way', async () => {
    const ipam = { cniVersion: '1.0.0', ips: [{ address: '10.1.0.9/16', gateway: '10.1.0.1' }], dns: {} };
    expect(formatResult(await parseResult(ipam, '1.0.0'), '0.4.0')).toEqual({
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.1.0.9/16', gateway: '10.1.0.1' }],
    });
  });
});

describe('parseResult', () => {
  it('a missing or empty cniVersion means the fallback (config) version', async () => {
    expect((await parseResult({ ip4: { ip: '10.0.0.2/8' } }, '0.2.0')).ips).toEqual([{ address: '10.0.0.2/8' }]);
    expect((await parseResult({ cniVersion: '', ips: [{ address: '10.0.0.2/8' }] }, '1.0.0')).ips).toEqual([{ address: '10.0.0.2/8' }]);
    // the same document read as 1.0.0 has no ip4 key to look at
    expect((await parseResult({ ip4: { ip: '10.0.0.2/8' } }, '1.0.0')).ips).toBeUndefined();
  });

  it('always yields the internal 1.1.0 model', async () => {
    for (const v of SUPPORTED_VERSIONS) expect((await parseResult(expected(levelOf(v), v), v)).cniVersion).toBe('1.1.0');
  });

  it('accepts null for optional sections', async () => {
    expect(await parseResult({ cniVersion: '1.0.0', interfaces: null, ips: null, routes: null, dns: null }, '1.0.0')).toEqual({
      cniVersion: '1.1.0',
    });
  });

  it('an unsupported result version is code 1', async () => {
    await expect(parseResult({ cniVersion: '9.9.9' }, '1.0.0')).rejects.toThrowError(
      expect.objectContaining({ code: ErrorCode.IncompatibleVersion }),
    );
    await expect(parseResult({}, '0.5.0')).rejects.toThrowError(expect.objectContaining({ code: ErrorCode.IncompatibleVersion }));
  });

  it.each([
    ['not an object', 'nope', '1.0.0'],
    ['an array', [], '1.0.0'],
    ['null', null, '1.0.0'],
    ['interfaces not a list', { interfaces: {} }, '1.0.0'],
    ['interface without a name', { interfaces: [{ mac: 'aa' }] }, '1.0.0'],
    ['interface mtu not an integer', { interfaces: [{ name: 'eth0', mtu: '1500' }] }, '1.1.0'],
    ['ips not a list', { ips: 'x' }, '1.0.0'],
    ['address without prefix', { ips: [{ address: '10.0.0.2' }] }, '1.0.0'],
    ['address not an address', { ips: [{ address: 'ten/8' }] }, '0.4.0'],
    ['missing address', { ips: [{ gateway: '10.0.0.1' }] }, '1.0.0'],
    ['gateway not an address', { ips: [{ address: '10.0.0.2/8', gateway: '10.0.0.300' }] }, '1.0.0'],
    ['negative interface index', { ips: [{ address: '10.0.0.2/8', interface: -1 }] }, '1.0.0'],
    ['fractional interface index', { ips: [{ address: '10.0.0.2/8', interface: 1.5 }] }, '1.0.0'],
    ['routes not a list', { routes: {} }, '1.0.0'],
    ['route without dst', { routes: [{ gw: '10.0.0.1' }] }, '1.0.0'],
    ['route dst not a CIDR', { routes: [{ dst: '10.0.0.0' }] }, '0.3.1'],
    ['route gw not an address', { routes: [{ dst: '0.0.0.0/0', gw: 'router' }] }, '1.0.0'],
    ['route priority not an integer', { routes: [{ dst: '0.0.0.0/0', priority: 'high' }] }, '1.1.0'],
    ['dns not an object', { dns: ['8.8.8.8'] }, '1.0.0'],
    ['dns nameservers not a list', { dns: { nameservers: '8.8.8.8' } }, '1.0.0'],
    ['legacy ip4 not an object', { ip4: '10.0.0.2/8' }, '0.2.0'],
    ['legacy ip4 without ip', { ip4: { gateway: '10.0.0.1' } }, '0.2.0'],
    ['legacy ip without prefix', { ip4: { ip: '10.0.0.2' } }, '0.1.0'],
    ['legacy gateway not an address', { ip4: { ip: '10.0.0.2/8', gateway: 'gw' } }, '0.2.0'],
    ['legacy route dst not a CIDR', { ip6: { ip: 'fd00::2/64', routes: [{ dst: 'default' }] } }, '0.2.0'],
  ])('%s → code 6', async (_what, raw, version) => {
    expect((await errorOf(() => parseResult(raw, version))).code).toBe(ErrorCode.DecodingFailure);
  });
});

describe('compactDns', () => {
  it('drops empty fields and returns undefined when nothing is left', async () => {
    expect(compactDns(undefined)).toBeUndefined();
    expect(compactDns({})).toBeUndefined();
    expect(compactDns({ nameservers: [], domain: '', search: [], options: [] })).toBeUndefined();
    expect(compactDns({ domain: 'cluster.local', search: [] })).toEqual({ domain: 'cluster.local' });
    const src = { nameservers: ['1.1.1.1'] };
    const out = compactDns(src)!;
    out.nameservers!.push('x');
    expect(src.nameservers).toEqual(['1.1.1.1']); // a copy, not an alias
  });
});
