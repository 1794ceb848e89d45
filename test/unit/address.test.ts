// lib/net/address.ts: parsing and printing must match Go's net.ParseIP / net.ParseCIDR / net.IP.String()
// byte for byte (host-local lease file names are these strings), plus the CIDR arithmetic.
import { describe, expect, it } from 'vitest';
import {
  addToIP,
  canonicalCidr,
  canonicalIPString,
  compareIP,
  contains,
  familyOfAddress,
  formatCidr,
  formatIP,
  hasHostBits,
  type IP,
  ipEqual,
  lastOf,
  networkOf,
  overlaps,
  parseCidr,
  parseIP,
  parseIPOrCidr,
} from '../../lib/net/address.ts';

const ip = (s: string): IP => {
  const r = parseIP(s);
  if (!r) throw new Error(`test address ${s} does not parse`);
  return r;
};
const cidr = (s: string) => {
  const r = parseCidr(s);
  if (!r) throw new Error(`test cidr ${s} does not parse`);
  return r;
};

describe('parseIP / formatIP: Go text form (RFC 5952 for IPv6)', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    // a single zero group is never compressed
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    // the longest run wins; on a tie the first one
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:0:0:2:0:0:0', '1::2:0:0:0'],
    ['fd00:0:0:0:0:0:0:0', 'fd00::'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    // embedded IPv4 (not v4-mapped) is printed as hex groups, like Go
    ['::1.2.3.4', '::102:304'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['ABCD:EF01:2345:6789:ABCD:EF01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789'],
  ])('%s → %s', (input, out) => {
    expect(formatIP(ip(input))).toBe(out);
    expect(canonicalIPString(input)).toBe(out);
    // the printed form parses back to the same address
    expect(ipEqual(ip(out), ip(input))).toBe(true);
  });

  it('knows the family', () => {
    expect(ip('10.0.0.1').family).toBe(4);
    expect(ip('fd00::1').family).toBe(6);
    expect(familyOfAddress('10.0.0.0/8')).toBe(4);
    expect(familyOfAddress('fd00::/8')).toBe(6);
    expect(familyOfAddress('nonsense')).toBeNull();
  });

  it('treats IPv4-mapped IPv6 text as the IPv4 address, as Go does (To4() != nil)', () => {
    const m = ip('::ffff:10.1.2.3');
    expect(m.family).toBe(4);
    expect(ipEqual(m, ip('10.1.2.3'))).toBe(true);
    expect(formatIP(ip('::ffff:a01:203'))).toBe('10.1.2.3');
    expect(formatIP(ip('::FFFF:10.1.2.3'))).toBe('10.1.2.3');
    // only ::ffff:0:0/96 is mapped; its neighbours stay IPv6
    expect(ip('::fffe:a01:203').family).toBe(6);
    expect(ip('1::ffff:a01:203').family).toBe(6);
  });

  it.each([
    '',
    ' 10.0.0.1',
    '10.0.0.1 ',
    '10.0.0',
    '10.0.0.1.2',
    '256.0.0.1',
    '10.0.0.-1',
    '010.0.0.1', // Go rejects leading zeros in IPv4 (octal ambiguity)
    '10..0.1',
    '0x0a.0.0.1',
    '1::2::3',
    ':',
    ':1',
    '1:',
    ':::',
    '12345::',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8', // "::" must stand for at least one zero group
    '1:2:3:4:5:6:7:8::',
    'g::1',
    '1.2.3.4::', // an embedded IPv4 address must be the last part
    '1.2.3.4::5',
    '::1.2.3.4:5',
    '::ffff:1.2.3',
    '::ffff:01.2.3.4',
    'fe80::1%eth0', // zones are not addresses (Go's ParseIP rejects them)
    'fe80::1%1',
    '[::1]',
    '10.0.0.1/24',
  ])('rejects %j', (s) => {
    expect(parseIP(s)).toBeNull();
    expect(canonicalIPString(s)).toBeNull();
  });

  it('rejects non-strings without throwing', () => {
    expect(parseIP(undefined as unknown as string)).toBeNull();
    expect(parseCidr(42 as unknown as string)).toBeNull();
    expect(parseIPOrCidr(null as unknown as string)).toBeNull();
  });
});

describe('parseCidr', () => {
  it('keeps host bits and prefix', () => {
    const c = cidr('10.1.0.5/24');
    expect(formatIP(c.ip)).toBe('10.1.0.5');
    expect(c.prefix).toBe(24);
    expect(formatCidr(c)).toBe('10.1.0.5/24');
    expect(hasHostBits(c)).toBe(true);
    expect(hasHostBits(cidr('10.1.0.0/24'))).toBe(false);
  });

  it.each([
    ['10.1.0.5/24', '10.1.0.0/24'],
    ['10.1.0.5/32', '10.1.0.5/32'],
    ['10.255.255.255/0', '0.0.0.0/0'],
    ['192.168.7.129/25', '192.168.7.128/25'],
    ['2001:DB8:0:0:1::5/64', '2001:db8::/64'],
    ['fd00::ff/120', 'fd00::/120'],
    ['fd00::1/128', 'fd00::1/128'],
    ['ffff::1/0', '::/0'],
  ])('canonicalises %s to %s', (input, out) => {
    expect(formatCidr(canonicalCidr(cidr(input)))).toBe(out);
  });

  it.each([
    '10.0.0.0',
    '10.0.0.0/',
    '10.0.0.0/33',
    '10.0.0.0/-1',
    '10.0.0.0/ 8',
    '10.0.0.0/8/8',
    '10.0.0.0/a',
    '/24',
    '::/129',
    'fe80::1%eth0/64',
    '300.0.0.0/8',
  ])('rejects %j', (s) => {
    expect(parseCidr(s)).toBeNull();
  });

  it('reads a prefix length with leading zeros, as Go does', () => {
    expect(formatCidr(cidr('10.1.0.0/024'))).toBe('10.1.0.0/24');
    expect(formatCidr(cidr('fd00::/0064'))).toBe('fd00::/64');
    expect(parseCidr('10.1.0.0/033')).toBeNull();
    expect(parseCidr('10.1.0.0/+24')).toBeNull();
  });

  it('parses an IPv4-mapped prefix as the IPv4 prefix', () => {
    expect(formatCidr(cidr('::ffff:10.1.0.0/120'))).toBe('10.1.0.0/24');
    expect(cidr('::ffff:10.1.0.0/120').ip.family).toBe(4);
  });

  it('parseIPOrCidr accepts both forms', () => {
    expect(parseIPOrCidr('10.0.0.1')).toEqual({ ip: ip('10.0.0.1') });
    expect(parseIPOrCidr('10.0.0.1/8')).toEqual({ ip: ip('10.0.0.1'), prefix: 8 });
    expect(parseIPOrCidr('10.0.0.1/40')).toBeNull();
    expect(parseIPOrCidr('fd00::1/64')?.prefix).toBe(64);
  });
});

describe('CIDR arithmetic', () => {
  it('network and last address, including /0, /31, /32, /127 and /128', () => {
    expect(formatIP(networkOf(cidr('10.1.2.3/16')))).toBe('10.1.0.0');
    expect(formatIP(lastOf(cidr('10.1.2.3/16')))).toBe('10.1.255.255');
    expect(formatIP(lastOf(cidr('1.2.3.4/0')))).toBe('255.255.255.255');
    expect(formatIP(networkOf(cidr('1.2.3.4/0')))).toBe('0.0.0.0');
    expect(formatIP(networkOf(cidr('10.0.0.7/31')))).toBe('10.0.0.6');
    expect(formatIP(lastOf(cidr('10.0.0.7/31')))).toBe('10.0.0.7');
    expect(formatIP(lastOf(cidr('10.0.0.7/32')))).toBe('10.0.0.7');
    expect(formatIP(lastOf(cidr('fd00::/64')))).toBe('fd00::ffff:ffff:ffff:ffff');
    expect(formatIP(lastOf(cidr('::/0')))).toBe('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    expect(formatIP(networkOf(cidr('fd00::3/127')))).toBe('fd00::2');
    expect(formatIP(lastOf(cidr('fd00::3/128')))).toBe('fd00::3');
  });

  it('adds across octet and group boundaries', () => {
    expect(formatIP(addToIP(ip('10.0.0.255'), 1n))).toBe('10.0.1.0');
    expect(formatIP(addToIP(ip('10.0.255.255'), 1n))).toBe('10.1.0.0');
    expect(formatIP(addToIP(ip('10.1.0.0'), -1n))).toBe('10.0.255.255');
    expect(formatIP(addToIP(ip('fd00::ffff'), 1n))).toBe('fd00::1:0');
    expect(formatIP(addToIP(ip('fd00::'), (1n << 64n) + 5n))).toBe('fd00:0:0:1::5');
  });

  it('contains and overlaps never mix families', () => {
    const net = cidr('10.1.0.0/16');
    expect(contains(net, ip('10.1.255.255'))).toBe(true);
    expect(contains(net, ip('10.2.0.0'))).toBe(false);
    expect(contains(net, ip('10.0.255.255'))).toBe(false);
    expect(contains(cidr('0.0.0.0/0'), ip('255.255.255.255'))).toBe(true);
    expect(contains(cidr('::/0'), ip('10.0.0.1'))).toBe(false);
    expect(contains(cidr('0.0.0.0/0'), ip('::1'))).toBe(false);
    expect(overlaps(cidr('10.1.0.0/16'), cidr('10.1.7.0/24'))).toBe(true);
    expect(overlaps(cidr('10.1.7.0/24'), cidr('10.1.0.0/16'))).toBe(true);
    expect(overlaps(cidr('10.1.0.0/24'), cidr('10.1.1.0/24'))).toBe(false);
    expect(overlaps(cidr('::/0'), cidr('0.0.0.0/0'))).toBe(false);
    expect(overlaps(cidr('fd00::/8'), cidr('fd12::/64'))).toBe(true);
  });

  it('orders IPv4 before IPv6 and by value within a family', () => {
    const sorted = ['fd00::1', '10.0.0.2', '::', '10.0.0.10', '9.255.255.255'].map(ip).sort(compareIP).map(formatIP);
    expect(sorted).toEqual(['9.255.255.255', '10.0.0.2', '10.0.0.10', '::', 'fd00::1']);
    expect(compareIP(ip('10.0.0.1'), ip('10.0.0.1'))).toBe(0);
    expect(ipEqual(ip('0.0.0.0'), ip('::'))).toBe(false);
  });
});
