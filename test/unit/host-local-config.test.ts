// host-local config parsing: defaults as the reference, range/set validation, requested-address
// sources and precedence, routes, resolv.conf; every error is code 7 and names its key.
import { describe, expect, it } from 'vitest';
import { type HostLocalConfig, parseHostLocalConfig, parseResolvConf, rangeSetToString } from '../../ipam/config.ts';
import { parseStoreLocation } from '../../ipam/store-location.ts';
import { ErrorCode } from '../../lib/cni/errors.ts';
import { formatCidr, formatIP } from '../../lib/net/address.ts';
import { errorOf } from '../helpers/cni-error.ts';

const parse = (ipam: object, extra: object = {}, args: Record<string, string> = {}, version = '1.0.0'): Promise<HostLocalConfig> =>
  parseHostLocalConfig(
    { cniVersion: version, name: 'net', ipam: { type: 'host-local', ...ipam }, ...extra },
    new Map(Object.entries(args)),
    version,
  );

const summary = (cfg: HostLocalConfig) =>
  cfg.rangeSets.map((s) =>
    s.map((r) => `${formatCidr(r.subnet)} ${formatIP(r.rangeStart)}-${formatIP(r.rangeEnd)} gw ${formatIP(r.gateway)}`),
  );

describe('defaults (as the reference)', () => {
  it.each([
    [{ subnet: '10.1.0.0/24' }, '10.1.0.0/24 10.1.0.1-10.1.0.254 gw 10.1.0.1'],
    [{ subnet: '10.1.0.0/30' }, '10.1.0.0/30 10.1.0.1-10.1.0.2 gw 10.1.0.1'],
    [{ subnet: 'fd00::/64' }, 'fd00::/64 fd00::1-fd00::ffff:ffff:ffff:ffff gw fd00::1'],
    [{ subnet: 'fd00::/126' }, 'fd00::/126 fd00::1-fd00::3 gw fd00::1'],
    [{ subnet: '10.1.0.0/24', gateway: '10.1.0.254', rangeStart: '10.1.0.10' }, '10.1.0.0/24 10.1.0.10-10.1.0.254 gw 10.1.0.254'],
  ])('%j', async (ipam, expected) => {
    expect(summary(await parse(ipam))).toEqual([[expected]]);
  });

  it('dataDir defaults to /var/lib/cni/networks; routes and resolvConf are optional', async () => {
    const cfg = await parse({ subnet: '10.1.0.0/24' });
    expect(cfg.dataDir).toBe('/var/lib/cni/networks');
    expect(cfg.routes).toEqual([]);
    expect(cfg.resolvConf).toBeUndefined();
    expect((await parse({ subnet: '10.1.0.0/24', dataDir: '/run/x' })).dataDir).toBe('/run/x');
  });

  it('null and "" in optional address fields mean "absent", as Go decodes them', async () => {
    expect(summary(await parse({ subnet: '10.1.0.0/24', rangeStart: '', gateway: null }))).toEqual([
      ['10.1.0.0/24 10.1.0.1-10.1.0.254 gw 10.1.0.1'],
    ]);
  });
});

describe('range sets: order and sources', () => {
  it('runtimeConfig.ipRanges first, then the legacy single range, then ipam.ranges', async () => {
    const cfg = await parse(
      { subnet: '10.2.0.0/24', ranges: [[{ subnet: '10.3.0.0/24' }], [{ subnet: 'fd00::/64' }]] },
      { runtimeConfig: { ipRanges: [[{ subnet: '10.1.0.0/24' }]] } },
    );
    expect(cfg.rangeSets.map(rangeSetToString)).toEqual([
      '10.1.0.1-10.1.0.254',
      '10.2.0.1-10.2.0.254',
      '10.3.0.1-10.3.0.254',
      'fd00::1-fd00::ffff:ffff:ffff:ffff',
    ]);
  });

  it('several ranges in one set form one pool', async () => {
    expect(
      (
        await parse({
          ranges: [
            [
              { subnet: '10.1.0.0/24', rangeEnd: '10.1.0.99' },
              { subnet: '10.1.0.0/24', rangeStart: '10.1.0.100' },
            ],
          ],
        })
      ).rangeSets[0],
    ).toHaveLength(2);
  });
});

describe('invalid configs: code 7, naming the key and the value', () => {
  it.each([
    ['no ipam', { noIpam: true }, /IPAM config missing 'ipam' key/],
    ['no ranges', {}, /"ipam.ranges": no IP ranges specified/],
    ['subnet not a CIDR', { subnet: '10.1.0.0' }, /"ipam.subnet" = "10.1.0.0": not a CIDR/],
    ['host bits set', { subnet: '10.1.0.5/24' }, /"ipam.subnet" = "10.1.0.5\/24": network has host bits set.*10\.1\.0\.0/],
    ['IPv4 /31 too small', { subnet: '10.1.0.0/31' }, /"ipam.subnet" = "10.1.0.0\/31": network too small/],
    ['IPv4 /32 too small', { subnet: '10.1.0.0/32' }, /too small/],
    ['IPv6 /127 too small', { ranges: [[{ subnet: 'fd00::/127' }]] }, /"ipam.ranges\[0\]\[0\].subnet" = "fd00::\/127": network too small/],
    [
      'rangeStart outside subnet',
      { subnet: '10.1.0.0/24', rangeStart: '10.2.0.1' },
      /"ipam.rangeStart" = "10.2.0.1": not inside subnet 10.1.0.0\/24/,
    ],
    [
      'rangeEnd outside subnet',
      { ranges: [[{ subnet: '10.1.0.0/24', rangeEnd: '10.1.1.1' }]] },
      /"ipam.ranges\[0\]\[0\].rangeEnd" = "10.1.1.1": not inside subnet/,
    ],
    [
      'rangeEnd before rangeStart',
      { subnet: '10.1.0.0/24', rangeStart: '10.1.0.50', rangeEnd: '10.1.0.40' },
      /"ipam.rangeEnd" = "10.1.0.40": before rangeStart 10.1.0.50/,
    ],
    ['gateway outside subnet', { subnet: '10.1.0.0/24', gateway: '10.9.0.1' }, /"ipam.gateway" = "10.9.0.1": not inside subnet/],
    [
      'gateway of the other family',
      { subnet: '10.1.0.0/24', gateway: 'fd00::1' },
      /"ipam.gateway" = "fd00::1": not the same address family/,
    ],
    ['gateway not an IP', { subnet: '10.1.0.0/24', gateway: 'router' }, /"ipam.gateway" = "router": not an IP address/],
    ['empty range set', { ranges: [[]] }, /"ipam.ranges\[0\]" = \[\]: empty range set/],
    [
      'mixed families in a set',
      { ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }]] },
      /"ipam.ranges\[0\]\[1\].subnet" = "fd00::\/64": mixed address families/,
    ],
    [
      'overlapping ranges in a set',
      { ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.1.0.0/25' }]] },
      /"ipam.ranges\[0\]\[1\]".*overlaps range 10.1.0.1-10.1.0.254/,
    ],
    [
      'overlapping sets',
      { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.128/25' }]] },
      /range set 0 \(10.1.0.1-10.1.0.254\) overlaps with range set 1/,
    ],
    [
      'legacy range overlapping a set',
      { subnet: '10.1.0.0/24', ranges: [[{ subnet: '10.1.0.0/24' }]] },
      /range set 0 .* overlaps with range set 1/,
    ],
    ['subnet missing in a range', { ranges: [[{ rangeStart: '10.1.0.1' }]] }, /"ipam.ranges\[0\]\[0\].subnet"/],
    ['routes without dst', { subnet: '10.1.0.0/24', routes: [{ gw: '10.1.0.1' }] }, /"ipam.routes\[0\].dst"/],
    ['route dst not a CIDR', { subnet: '10.1.0.0/24', routes: [{ dst: '0.0.0.0' }] }, /"ipam.routes\[0\].dst" = "0.0.0.0": not a CIDR/],
    ['route gw not an IP', { subnet: '10.1.0.0/24', routes: [{ dst: '0.0.0.0/0', gw: 'x' }] }, /"ipam.routes\[0\].gw" = "x"/],
    ['dataDir not a string', { subnet: '10.1.0.0/24', dataDir: 5 }, /"ipam.dataDir"/],
  ])('%s', async (_what, ipam, msg) => {
    const { noIpam, ...rest } = ipam as { noIpam?: boolean };
    const err = await errorOf(() =>
      noIpam ? parseHostLocalConfig({ cniVersion: '1.0.0', name: 'net' }, new Map(), '1.0.0') : parse(rest),
    );
    expect(err.code).toBe(ErrorCode.InvalidConfig);
    expect(err.message).toMatch(msg);
  });

  it('more than one address per family needs config version 0.3.0 or later', async () => {
    const ipam = { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24' }]] };
    expect((await errorOf(() => parse(ipam, {}, {}, '0.2.0'))).message).toMatch(
      /CNI version 0.2.0 does not support more than 1 address per family/,
    );
    expect((await parse(ipam, {}, {}, '0.3.0')).rangeSets).toHaveLength(2);
    expect((await parse({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] }, {}, {}, '0.2.0')).rangeSets).toHaveLength(2);
  });

  it.each(['..', '.', 'a/b', ''])('network name %j that could escape the data directory is refused', async (name) => {
    const err = await errorOf(() =>
      parseHostLocalConfig({ cniVersion: '1.0.0', name, ipam: { subnet: '10.1.0.0/24' } }, new Map(), '1.0.0'),
    );
    expect(err.code).toBe(ErrorCode.InvalidConfig);
    expect(errorOf(() => parseStoreLocation({ name, ipam: {} })).code).toBe(ErrorCode.InvalidConfig);
  });
});

describe('requested addresses', () => {
  const twoSets = { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] };
  const requested = (cfg: HostLocalConfig) => cfg.requested.map((r) => (r ? `${formatIP(r.ip)} from ${r.key}` : null));

  it('CNI_ARGS IP, args.cni.ips and runtimeConfig.ips each land in the set containing them', async () => {
    expect(requested(await parse(twoSets, {}, { IP: '10.1.0.7' }))).toEqual(['10.1.0.7 from CNI_ARGS IP', null]);
    expect(requested(await parse(twoSets, { args: { cni: { ips: ['fd00::5'] } } }))).toEqual([null, 'fd00::5 from args.cni.ips[0]']);
    expect(requested(await parse(twoSets, { runtimeConfig: { ips: ['10.1.0.9/24', 'fd00::9/64'] } }))).toEqual([
      '10.1.0.9 from runtimeConfig.ips[0]',
      'fd00::9 from runtimeConfig.ips[1]',
    ]);
  });

  it('the same address from several sources is one request', async () => {
    expect(requested(await parse(twoSets, { runtimeConfig: { ips: ['10.1.0.7/24'] } }, { IP: '10.1.0.7' }))).toEqual([
      '10.1.0.7 from CNI_ARGS IP',
      null,
    ]);
  });

  it.each([
    ['outside every range', {}, { IP: '10.9.0.1' }, /"CNI_ARGS IP" = "10.9.0.1": not inside any range/],
    [
      'inside the subnet but outside the range',
      { runtimeConfig: { ips: ['10.1.0.200/24'] } },
      {},
      /"runtimeConfig.ips\[0\]" = "10.1.0.200": not inside any range/,
    ],
    [
      'two in one set',
      { args: { cni: { ips: ['10.1.0.5', '10.1.0.6'] } } },
      {},
      /"args.cni.ips\[1\]" = "10.1.0.6": range set 0 already gets 10.1.0.5 from args.cni.ips\[0\]/,
    ],
    ['not an address (CNI_ARGS)', {}, { IP: 'ten' }, /"CNI_ARGS IP" = "ten": not an IP address/],
    [
      'a CIDR in args.cni.ips (plain addresses only, as the reference)',
      { args: { cni: { ips: ['10.1.0.5/24'] } } },
      {},
      /"args.cni.ips\[0\]"/,
    ],
    ['not an address (runtimeConfig)', { runtimeConfig: { ips: ['x/24'] } }, {}, /"runtimeConfig.ips\[0\]" = "x\/24"/],
  ])('%s is an error', async (_what, extra, args, msg) => {
    const err = await errorOf(() =>
      parse({ ranges: [[{ subnet: '10.1.0.0/24', rangeEnd: '10.1.0.100' }], [{ subnet: 'fd00::/64' }]] }, extra, args),
    );
    expect(err.code).toBe(ErrorCode.InvalidConfig);
    expect(err.message).toMatch(msg);
  });
});

describe('routes', () => {
  it('are kept with every field, addresses in canonical text (host bits kept, as Go)', async () => {
    const cfg = await parse({
      subnet: '10.1.0.0/24',
      routes: [
        { dst: '0.0.0.0/0' },
        { dst: '10.0.0.5/8', gw: '10.1.0.1', mtu: 1400, priority: 5, table: 100, scope: 0, advmss: 1300 },
        { dst: 'FD00:0:0::/48' },
      ],
    });
    expect(cfg.routes).toEqual([
      { dst: '0.0.0.0/0' },
      { dst: '10.0.0.5/8', gw: '10.1.0.1', mtu: 1400, priority: 5, table: 100, scope: 0, advmss: 1300 },
      { dst: 'fd00::/48' },
    ]);
  });
});

describe('parseStoreLocation (DEL/GC): only name and dataDir, so a drifted config never blocks release', () => {
  it('ignores broken ranges', async () => {
    expect(parseStoreLocation({ name: 'n', ipam: { subnet: 'garbage', dataDir: '/d' } })).toEqual({ network: 'n', dataDir: '/d' });
    expect(parseStoreLocation({ name: 'n', ipam: {} })).toEqual({ network: 'n', dataDir: '/var/lib/cni/networks' });
  });
});

describe('parseResolvConf (as the reference dns.go)', () => {
  it('reads nameserver, domain, search and options; skips comments and short lines', async () => {
    const conf = [
      '# comment',
      '; also comment',
      'nameserver 10.0.0.53',
      '  nameserver   fd00::53  ',
      'domain example.com',
      'search a.example b.example',
      'search c.example',
      'options ndots:5 edns0',
      'nameserver',
      'sortlist 10.0.0.0',
    ].join('\n');
    expect(parseResolvConf(conf)).toEqual({
      nameservers: ['10.0.0.53', 'fd00::53'],
      domain: 'example.com',
      search: ['a.example', 'b.example', 'c.example'],
      options: ['ndots:5', 'edns0'],
    });
  });
});
