// lib/kernel/netlink-codec.ts: rtnetlink encoding and decoding checked against the kernel's layouts
// (linux/netlink.h, rtnetlink.h, if_link.h, if_addr.h; little-endian), with every byte the
// decoders read built by hand here rather than with the module's own encoders.
import { describe, expect, it } from 'vitest';
import { addressBytes } from '../../lib/kernel/address-bytes.ts';
import {
  assembleLinks,
  attrBytes,
  decodeAddr,
  decodeLink,
  decodeRoute,
  errnoOf,
  formatAddress,
  isDone,
  message,
  NLM_F,
  parseAttrs,
  type RawAddr,
  type RawLink,
  RTM,
  splitMessages,
} from '../../lib/kernel/netlink-codec.ts';

// ---------------------------------------------------------------------------------------------
// helpers: an independent little-endian byte builder

const NLA_F_NESTED = 0x8000;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;

const bytes = (...parts: Array<Uint8Array | number[]>): Uint8Array => {
  const all = parts.flatMap((p) => Array.from(p));
  return Uint8Array.from(all);
};
const le16 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff];
const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const str0 = (s: string): number[] => [...Buffer.from(s, 'utf8'), 0];
const ipv4 = (s: string): number[] => s.split('.').map(Number);
/** Hand-made IPv6 bytes from eight 16-bit words. */
const ipv6 = (...words: number[]): Uint8Array => Uint8Array.from(words.flatMap((w) => [w >> 8, w & 0xff]));

/** One rtattr: nla_len (unpadded), nla_type, payload, zero padding to 4 bytes. */
function rta(type: number, payload: Uint8Array | number[]): number[] {
  const p = Array.from(payload);
  const pad = (4 - ((4 + p.length) % 4)) % 4;
  return [...le16(4 + p.length), ...le16(type), ...p, ...new Array<number>(pad).fill(0)];
}
const nest = (type: number, ...attrs: number[][]): number[] => rta(type | NLA_F_NESTED, attrs.flat());

/** A whole nlmsghdr + payload, the length field unpadded like the kernel's. */
function nlmsg(type: number, seq: number, payload: Uint8Array | number[], flags = 0): number[] {
  const p = Array.from(payload);
  const pad = (4 - (p.length % 4)) % 4;
  return [...le32(16 + p.length), ...le16(type), ...le16(flags), ...le32(seq), ...le32(0), ...p, ...new Array<number>(pad).fill(0)];
}

/**
 * The payload as the receive path hands it over: a subarray of a bigger datagram (non-zero
 * byteOffset), so a decoder that reads `payload.buffer` from 0 would be caught.
 */
function received(payload: Uint8Array | number[]): Uint8Array {
  const datagram = bytes(nlmsg(RTM.NEWLINK, 1, [9, 9, 9, 9, 9]), nlmsg(RTM.NEWLINK, 2, payload));
  const msgs = splitMessages(datagram);
  expect(msgs).toHaveLength(2);
  expect(msgs[1]!.payload.byteOffset).toBeGreaterThan(0);
  return msgs[1]!.payload;
}

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

// ifinfomsg / ifaddrmsg / rtmsg built by hand
const ifinfo = (index: number, flags: number, change = 0): number[] => [
  0,
  0,
  ...le16(1 /* ARPHRD_ETHER */),
  ...le32(index),
  ...le32(flags),
  ...le32(change),
];
const ifaddr = (family: number, prefixlen: number, flags: number, scope: number, index: number): number[] => [
  family,
  prefixlen,
  flags,
  scope,
  ...le32(index),
];
const rtm = (r: { family: number; dstLen: number; table: number; protocol: number; scope: number; type: number }): number[] => [
  r.family,
  r.dstLen,
  0,
  0,
  r.table,
  r.protocol,
  r.scope,
  r.type,
  ...le32(0),
];

// linux/if.h
const IFF_UP = 0x1;
const IFF_BROADCAST = 0x2;
const IFF_LOOPBACK = 0x8;
const IFF_RUNNING = 0x40;
const IFF_PROMISC = 0x100;
const IFF_MULTICAST = 0x1000;
const IFF_LOWER_UP = 0x10000;

// ---------------------------------------------------------------------------------------------

describe('attrBytes', () => {
  it('writes nla_len (header + unpadded payload) and nla_type little-endian, padding to 4 bytes with zeros', () => {
    const out = attrBytes([[3, Uint8Array.from([0x65, 0x74, 0x68, 0x30, 0])]]); // "eth0\0"
    expect(out).toHaveLength(12);
    expect(dv(out).getUint16(0, true)).toBe(9);
    expect(dv(out).getUint16(2, true)).toBe(3);
    expect(Array.from(out.subarray(4, 9))).toEqual([0x65, 0x74, 0x68, 0x30, 0]);
    expect(Array.from(out.subarray(9))).toEqual([0, 0, 0]);
  });

  it('adds no padding to an already aligned payload, and a bare header for an empty one', () => {
    expect(Array.from(attrBytes([[4, Uint8Array.from(le32(1400))]]))).toEqual([8, 0, 4, 0, ...le32(1400)]);
    expect(Array.from(attrBytes([[7, new Uint8Array(0)]]))).toEqual([4, 0, 7, 0]);
  });

  it('places consecutive attributes at aligned offsets', () => {
    const out = attrBytes([
      [1, Uint8Array.of(0xaa)],
      [2, Uint8Array.of(1, 2, 3, 4, 5, 6)],
      [3, Uint8Array.of(0xbb, 0xcc)],
    ]);
    expect(Array.from(out)).toEqual([...rta(1, [0xaa]), ...rta(2, [1, 2, 3, 4, 5, 6]), ...rta(3, [0xbb, 0xcc])]);
    expect(out.length % 4).toBe(0);
  });

  it('sets NLA_F_NESTED on a nested attribute only, its length covering the padded inner attributes', () => {
    const out = attrBytes([
      [
        18,
        [
          [1, Uint8Array.from(str0('veth'))],
          [2, [[1, Uint8Array.of(7)]]],
        ],
      ],
    ]);
    const expected = nest(18, rta(1, str0('veth')), nest(2, rta(1, [7])));
    expect(Array.from(out)).toEqual(expected);
    expect(dv(out).getUint16(2, true)).toBe(18 | NLA_F_NESTED);
    expect(dv(out).getUint16(0, true)).toBe(out.length); // 4 + 12 ("veth\0" padded) + 12 (nest of 8)
    expect(dv(out).getUint16(6, true)).toBe(1); // plain inner attribute: no flag
  });
});

describe('message', () => {
  it('writes the nlmsghdr: total length, type, flags with NLM_F_REQUEST, seq, pid 0', () => {
    const fixed = Uint8Array.from(ifinfo(5, 0));
    const out = message(RTM.NEWLINK, NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, 0x01020304, fixed, [[3, Uint8Array.from(str0('eth0'))]]);
    const v = dv(out);
    expect(v.getUint32(0, true)).toBe(out.length);
    expect(out.length).toBe(16 + 16 + 12);
    expect(v.getUint16(4, true)).toBe(16);
    expect(v.getUint16(6, true)).toBe(0x1 | 0x4 | 0x400 | 0x200);
    expect(v.getUint32(8, true)).toBe(0x01020304);
    expect(v.getUint32(12, true)).toBe(0);
    expect(Array.from(out.subarray(16, 32))).toEqual(Array.from(fixed));
    expect(Array.from(out.subarray(32))).toEqual(rta(3, str0('eth0')));
  });

  it('always sets NLM_F_REQUEST, even with no other flag and no attributes', () => {
    const out = message(RTM.GETLINK, 0, 1, new Uint8Array(16));
    expect(out).toHaveLength(32);
    expect(dv(out).getUint16(6, true)).toBe(NLM_F.REQUEST);
  });

  it('uses the kernel values of the constants', () => {
    expect(RTM).toEqual({
      NEWLINK: 16,
      DELLINK: 17,
      GETLINK: 18,
      NEWADDR: 20,
      DELADDR: 21,
      GETADDR: 22,
      NEWROUTE: 24,
      DELROUTE: 25,
      GETROUTE: 26,
    });
    expect(NLM_F).toEqual({ REQUEST: 1, MULTI: 2, ACK: 4, DUMP: 0x300, REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400 });
  });
});

describe('splitMessages', () => {
  it('splits a datagram of several messages, honouring alignment after an unaligned nlmsg_len', () => {
    const buf = bytes(
      nlmsg(RTM.NEWLINK, 7, [1, 2, 3, 4, 5, 6, 7, 8], NLM_F.MULTI),
      nlmsg(RTM.NEWADDR, 8, [0xa, 0xb, 0xc, 0xd, 0xe], NLM_F.MULTI),
      nlmsg(NLMSG_DONE, 9, le32(0), NLM_F.MULTI),
    );
    const msgs = splitMessages(buf);
    expect(msgs.map((m) => [m.type, m.flags, m.seq, m.payload.length])).toEqual([
      [RTM.NEWLINK, NLM_F.MULTI, 7, 8],
      [RTM.NEWADDR, NLM_F.MULTI, 8, 5], // nlmsg_len 21: the payload excludes the padding
      [NLMSG_DONE, NLM_F.MULTI, 9, 4],
    ]);
    expect(Array.from(msgs[1]!.payload)).toEqual([0xa, 0xb, 0xc, 0xd, 0xe]);
    expect(isDone(msgs[2]!)).toBe(true);
    expect(isDone(msgs[0]!)).toBe(false);
  });

  it('reads a buffer that is itself a view at an offset', () => {
    const inner = bytes(nlmsg(RTM.NEWROUTE, 3, [1, 2, 3, 4]));
    const big = new Uint8Array(64 + inner.length);
    big.set(inner, 64);
    const msgs = splitMessages(big.subarray(64));
    expect(msgs).toHaveLength(1);
    expect(msgs[0]!.type).toBe(RTM.NEWROUTE);
    expect(msgs[0]!.seq).toBe(3);
    expect(Array.from(msgs[0]!.payload)).toEqual([1, 2, 3, 4]);
  });

  it('round-trips what message() encodes', () => {
    const a = message(RTM.NEWADDR, NLM_F.ACK, 11, Uint8Array.from(ifaddr(2, 24, 0, 0, 3)), [[2, Uint8Array.from(ipv4('10.1.2.3'))]]);
    const b = message(RTM.DELLINK, NLM_F.ACK, 12, Uint8Array.from(ifinfo(9, 0)));
    const msgs = splitMessages(bytes(a, b));
    expect(msgs.map((m) => [m.type, m.flags, m.seq])).toEqual([
      [RTM.NEWADDR, NLM_F.ACK | NLM_F.REQUEST, 11],
      [RTM.DELLINK, NLM_F.ACK | NLM_F.REQUEST, 12],
    ]);
    expect(Array.from(msgs[0]!.payload)).toEqual([...ifaddr(2, 24, 0, 0, 3), ...rta(2, ipv4('10.1.2.3'))]);
  });

  it('stops at a truncated message or a bogus length instead of reading past the end', () => {
    const whole = nlmsg(RTM.NEWLINK, 1, [1, 2, 3, 4]);
    const truncated = nlmsg(RTM.NEWLINK, 2, new Array<number>(32).fill(1)).slice(0, 24);
    expect(splitMessages(bytes(whole, truncated)).map((m) => m.seq)).toEqual([1]);
    const tooShort = [...le32(8), ...le16(RTM.NEWLINK), ...le16(0), ...le32(3), ...le32(0)];
    expect(splitMessages(bytes(tooShort, whole))).toEqual([]);
    expect(splitMessages(new Uint8Array(0))).toEqual([]);
  });
});

describe('errnoOf', () => {
  /** NLMSG_ERROR: int error, then the request's nlmsghdr. */
  const errorMsg = (error: number, seq = 5) => nlmsg(NLMSG_ERROR, seq, [...le32(error), ...nlmsg(RTM.NEWLINK, seq, [])]);

  it('is 0 for the ACK of a success', () => {
    const [m] = splitMessages(bytes(errorMsg(0)));
    // (the module returns -0 here; == 0 is what callers test)
    expect(errnoOf(m!) === 0).toBe(true);
  });

  it('is the positive errno for a negative error', () => {
    const msgs = splitMessages(bytes(nlmsg(RTM.NEWLINK, 1, [0, 0, 0, 0]), errorMsg(-17), errorMsg(-19), errorMsg(-1)));
    expect(msgs.map(errnoOf)).toEqual([undefined, 17, 19, 1]); // non-error, EEXIST, ENODEV, EPERM
  });

  it('is undefined for NLMSG_DONE and data messages', () => {
    const msgs = splitMessages(bytes(nlmsg(RTM.NEWROUTE, 1, new Array<number>(12).fill(0)), nlmsg(NLMSG_DONE, 1, le32(0))));
    expect(msgs.map(errnoOf)).toEqual([undefined, undefined]);
  });
});

describe('parseAttrs', () => {
  it('reads attributes after a fixed header, exact (unpadded) payloads, nested flag stripped', () => {
    const buf = bytes([9, 9, 9, 9], rta(3, str0('br0')), nest(18, rta(1, str0('bridge'))), rta(4, le32(9000)));
    const a = parseAttrs(buf, 4);
    expect([...a.keys()]).toEqual([3, 18, 4]);
    expect(Array.from(a.get(3)!)).toEqual(str0('br0'));
    expect(Array.from(a.get(18)!)).toEqual(rta(1, str0('bridge')));
    expect(dv(a.get(4)!).getUint32(0, true)).toBe(9000);
  });

  it('strips NLA_F_NET_BYTEORDER too', () => {
    const a = parseAttrs(bytes(rta(6 | 0x4000, [1, 2])));
    expect([...a.keys()]).toEqual([6]);
  });

  it('stops at an attribute running past the buffer', () => {
    const good = rta(1, [1, 2, 3, 4]);
    const bad = [...le16(40), ...le16(2), 1, 2, 3, 4];
    expect([...parseAttrs(bytes(good, bad)).keys()]).toEqual([1]);
  });
});

describe('formatAddress', () => {
  it('prints IPv4 dotted quads', () => {
    expect(formatAddress(Uint8Array.from([10, 1, 2, 3]))).toBe('10.1.2.3');
    expect(formatAddress(Uint8Array.from([0, 0, 0, 0]))).toBe('0.0.0.0');
    expect(formatAddress(Uint8Array.from([255, 255, 255, 255]))).toBe('255.255.255.255');
  });

  it.each([
    [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], '2001:db8::1'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0xfe80, 0, 0, 0, 0, 0, 1, 2], 'fe80::1:2'],
    [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], '2001:db8::'],
    [[0xfd00, 0, 0, 0, 0, 0, 0, 0], 'fd00::'],
    // a single zero group is not "::" (RFC 5952 4.2.2)
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'],
    [[1, 0, 2, 0, 3, 0, 4, 0], '1:0:2:0:3:0:4:0'],
    // the longest run is compressed (4.2.3) ...
    [[1, 0, 0, 2, 0, 0, 0, 3], '1:0:0:2::3'],
    // ... and of equal runs the first
    [[1, 0, 0, 2, 3, 0, 0, 4], '1::2:3:0:0:4'],
    // lower case, no leading zeros (4.1, 4.3)
    [[0x2001, 0x0db8, 0x00ab, 0xcdef, 0x000a, 0, 0, 0x0001], '2001:db8:ab:cdef:a::1'],
    [[0x2001, 0xdb8, 1, 2, 3, 4, 5, 6], '2001:db8:1:2:3:4:5:6'],
  ])('prints %j as %s (RFC 5952)', (words, text) => {
    expect(formatAddress(ipv6(...words))).toBe(text);
  });

  // Regression (was a bug in lib/kernel/netlink-codec.ts:149 formatAddress): IPv4-mapped addresses should be printed in
  // mixed notation as RFC 5952 section 5 recommends and as iproute2 (inet_ntop) prints them:
  // '::ffff:1.2.3.4', not '::ffff:102:304'.
  it('prints an IPv4-mapped address in mixed notation, as iproute2 does', () => {
    expect(formatAddress(ipv6(0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304))).toBe('::ffff:1.2.3.4');
  });
});

describe('addressBytes', () => {
  it('encodes IPv4 to 4 bytes and IPv6 to 16 bytes in network order', () => {
    expect(Array.from(addressBytes('10.1.2.3'))).toEqual([10, 1, 2, 3]);
    expect(Array.from(addressBytes('2001:db8::1'))).toEqual(Array.from(ipv6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
    expect(Array.from(addressBytes('::'))).toEqual(new Array(16).fill(0));
    expect(Array.from(addressBytes('::1'))).toEqual(Array.from(ipv6(0, 0, 0, 0, 0, 0, 0, 1)));
    expect(Array.from(addressBytes('fe80::'))).toEqual(Array.from(ipv6(0xfe80, 0, 0, 0, 0, 0, 0, 0)));
    expect(Array.from(addressBytes('2001:DB8:0:0:1:0:0:1'))).toEqual(Array.from(ipv6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)));
  });

  it('understands an embedded IPv4 tail', () => {
    expect(Array.from(addressBytes('::ffff:1.2.3.4'))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
    expect(Array.from(addressBytes('64:ff9b::192.0.2.33'))).toEqual(Array.from(ipv6(0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221)));
  });

  it.each([
    '10.1.2.3',
    '0.0.0.0',
    '2001:db8::1',
    '::1',
    '::',
    'fe80::1:2',
    '2001:db8:0:1:1:1:1:1',
    '1:0:0:2::3',
    'fd00:1:2:3::',
    '2001:db8:ab:cdef:a::1',
  ])('round-trips %s through formatAddress', (ip) => {
    expect(formatAddress(addressBytes(ip))).toBe(ip);
  });

  it('canonicalises non-canonical input on the way back', () => {
    expect(formatAddress(addressBytes('2001:0DB8:0000:0000:0000:0000:0000:0001'))).toBe('2001:db8::1');
    expect(formatAddress(addressBytes('1:0:0:2:0:0:0:3'))).toBe('1:0:0:2::3');
  });

  // Regression: same as formatAddress above — addressBytes reads the mixed form, formatAddress does not print it.
  it("round-trips '::ffff:1.2.3.4'", () => {
    expect(formatAddress(addressBytes('::ffff:1.2.3.4'))).toBe('::ffff:1.2.3.4');
  });
});

describe('decodeLink', () => {
  const vethPayload = () =>
    bytes(
      ifinfo(5, IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST | IFF_LOWER_UP),
      rta(3, str0('veth1234')), // IFLA_IFNAME
      rta(1, [0x02, 0x42, 0xac, 0x11, 0x00, 0x0a]), // IFLA_ADDRESS
      rta(4, le32(1400)), // IFLA_MTU
      rta(10, le32(7)), // IFLA_MASTER
      rta(16, [6]), // IFLA_OPERSTATE IF_OPER_UP
      rta(30, le32(0)), // IFLA_PROMISCUITY
      rta(5, le32(3)), // IFLA_LINK
      rta(37, le32(0)), // IFLA_LINK_NETNSID
      nest(18, rta(1, str0('veth')), nest(2, rta(1, [])), rta(4, str0('bridge')), nest(5, rta(4, [1]))), // IFLA_LINKINFO
    );

  it('decodes ifinfomsg and the attributes into the ip -json shape', () => {
    const link = decodeLink(received(vethPayload()));
    expect(link).toStrictEqual<RawLink>({
      ifindex: 5,
      ifname: 'veth1234',
      flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
      mtu: 1400,
      masterIndex: 7,
      operstate: 'UP',
      address: '02:42:ac:11:00:0a',
      promiscuity: 0,
      link_index: 3,
      link_netnsid: 0,
      linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' },
    });
  });

  it("adds 'NO-CARRIER' first for a link up without IFF_RUNNING", () => {
    const link = decodeLink(received(bytes(ifinfo(6, IFF_UP | IFF_BROADCAST | IFF_MULTICAST), rta(3, str0('eth0')))));
    expect(link.flags).toEqual(['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP']);
  });

  it("has neither 'UP' nor 'NO-CARRIER' for a link that is down", () => {
    const link = decodeLink(received(bytes(ifinfo(6, IFF_BROADCAST | IFF_MULTICAST), rta(3, str0('eth0')), rta(16, [2]))));
    expect(link.flags).toEqual(['BROADCAST', 'MULTICAST']);
    expect(link.operstate).toBe('DOWN');
  });

  it('names loopback and promisc flags in iproute2 order', () => {
    const lo = decodeLink(received(bytes(ifinfo(1, IFF_LOOPBACK | IFF_UP | IFF_RUNNING | IFF_LOWER_UP), rta(3, str0('lo')))));
    expect(lo.flags).toEqual(['LOOPBACK', 'UP', 'LOWER_UP']);
    const br = decodeLink(
      received(bytes(ifinfo(7, IFF_BROADCAST | IFF_MULTICAST | IFF_PROMISC | IFF_UP | IFF_RUNNING | IFF_LOWER_UP), rta(3, str0('br0')))),
    );
    expect(br.flags).toEqual(['BROADCAST', 'MULTICAST', 'PROMISC', 'UP', 'LOWER_UP']);
  });

  it('leaves out what the kernel did not send, and reads a linkinfo with the kind only', () => {
    expect(decodeLink(received(bytes(ifinfo(9, 0))))).toStrictEqual<RawLink>({ ifindex: 9, ifname: '', flags: [] });
    const br = decodeLink(received(bytes(ifinfo(7, 0), rta(3, str0('br0')), nest(18, rta(1, str0('bridge'))))));
    expect(br.linkinfo).toStrictEqual({ info_kind: 'bridge' });
    expect(br.masterIndex).toBeUndefined();
  });

  it('reads a negative IFLA_LINK_NETNSID as signed', () => {
    expect(decodeLink(received(bytes(ifinfo(4, 0), rta(37, le32(-1))))).link_netnsid).toBe(-1);
  });
});

describe('decodeAddr', () => {
  it('decodes an IPv4 address: family, local, prefixlen, scope, index', () => {
    const a = decodeAddr(
      received(
        bytes(
          ifaddr(2, 24, 0x80 /* PERMANENT */, 0, 7),
          rta(1, ipv4('10.1.2.1')),
          rta(2, ipv4('10.1.2.1')),
          rta(4, ipv4('10.1.2.255')),
          rta(3, str0('br0')),
        ),
      ),
    );
    expect(a).toStrictEqual<RawAddr>({ index: 7, info: { family: 'inet', local: '10.1.2.1', prefixlen: 24, scope: 'global' } });
  });

  it('prefers IFA_LOCAL over IFA_ADDRESS (the peer on a point-to-point address)', () => {
    const a = decodeAddr(received(bytes(ifaddr(2, 32, 0, 0, 3), rta(1, ipv4('10.0.0.2')), rta(2, ipv4('10.0.0.1')))));
    expect(a.info.local).toBe('10.0.0.1');
  });

  it('decodes an IPv6 address sent with IFA_ADDRESS only, link scope, tentative', () => {
    const a = decodeAddr(received(bytes(ifaddr(10, 64, 0x40, 253, 300), rta(1, ipv6(0xfe80, 0, 0, 0, 0x42, 0xacff, 0xfe11, 0x0a)))));
    expect(a).toStrictEqual<RawAddr>({
      index: 300,
      info: { family: 'inet6', local: 'fe80::42:acff:fe11:a', prefixlen: 64, scope: 'link', tentative: true },
    });
  });

  it('reports dadfailed', () => {
    const a = decodeAddr(received(bytes(ifaddr(10, 64, 0x08 | 0x40, 0, 2), rta(1, ipv6(0xfd00, 0, 0, 0, 0, 0, 0, 1)))));
    expect(a.info).toMatchObject({ local: 'fd00::1', tentative: true, dadfailed: true });
  });

  it('takes the flags from IFA_FLAGS (u32) over the u8 in ifaddrmsg, both ways', () => {
    const set = decodeAddr(received(bytes(ifaddr(10, 64, 0, 0, 2), rta(1, ipv6(0xfd00, 0, 0, 0, 0, 0, 0, 1)), rta(8, le32(0x48 | 0x100)))));
    expect(set.info.tentative).toBe(true);
    expect(set.info.dadfailed).toBe(true);
    const cleared = decodeAddr(received(bytes(ifaddr(10, 64, 0x40, 0, 2), rta(1, ipv6(0xfd00, 0, 0, 0, 0, 0, 0, 1)), rta(8, le32(0x80)))));
    expect(cleared.info).not.toHaveProperty('tentative');
    expect(cleared.info).not.toHaveProperty('dadfailed');
  });

  it.each([
    [254, 'host'],
    [253, 'link'],
    [200, 'site'],
    [0, 'global'],
    [255, 'nowhere'],
    [42, '42'],
  ])('names scope %i %s', (scope, name) => {
    expect(decodeAddr(received(bytes(ifaddr(2, 8, 0, scope, 1), rta(2, ipv4('127.0.0.1'))))).info.scope).toBe(name);
  });
});

describe('assembleLinks', () => {
  const lo: RawLink = { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'] };
  const br: RawLink = { ifindex: 7, ifname: 'br0', flags: ['UP'] };
  const veth: RawLink = { ifindex: 9, ifname: 'veth1234', flags: ['UP'], masterIndex: 7 };
  const orphan: RawLink = { ifindex: 11, ifname: 'vethzzz', flags: [], masterIndex: 42 };
  const addrs: RawAddr[] = [
    { index: 7, info: { family: 'inet', local: '10.1.2.1', prefixlen: 24, scope: 'global' } },
    { index: 1, info: { family: 'inet6', local: '::1', prefixlen: 128, scope: 'host' } },
    { index: 7, info: { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' } },
  ];

  it('resolves the master index to a name and attaches each link its addresses in order', () => {
    const links = assembleLinks([lo, br, veth, orphan], addrs);
    expect(links).toStrictEqual([
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], addr_info: [addrs[1]!.info] },
      { ifindex: 7, ifname: 'br0', flags: ['UP'], addr_info: [addrs[0]!.info, addrs[2]!.info] },
      { ifindex: 9, ifname: 'veth1234', flags: ['UP'], master: 'br0', addr_info: [] },
      { ifindex: 11, ifname: 'vethzzz', flags: [], addr_info: [] }, // master not in the dump: left out
    ]);
  });

  it('adds no addr_info without addresses, and never leaks masterIndex', () => {
    const links = assembleLinks([br, veth]);
    expect(links).toStrictEqual([
      { ifindex: 7, ifname: 'br0', flags: ['UP'] },
      { ifindex: 9, ifname: 'veth1234', flags: ['UP'], master: 'br0' },
    ]);
  });
});

describe('decodeRoute', () => {
  const names: Record<number, string> = { 2: 'eth0', 7: 'br0' };
  const linkName = (i: number): string | undefined => names[i];
  const route = (head: Parameters<typeof rtm>[0], ...attrs: number[][]) => decodeRoute(received(bytes(rtm(head), ...attrs)), linkName);
  const main = { table: 254, protocol: 3, scope: 0, type: 1 };

  it("prints a default route as 'default' and leaves out main table, unicast type and universe scope", () => {
    const r = route({ family: 2, dstLen: 0, ...main }, rta(5, ipv4('10.1.2.1')), rta(4, le32(2)), rta(15, le32(254)));
    expect(r).toStrictEqual({ dst: 'default', gateway: '10.1.2.1', dev: 'eth0', protocol: 'boot', flags: [] });
  });

  it("prints an IPv6 default route as 'default' with its gateway", () => {
    const r = route({ family: 10, dstLen: 0, ...main }, rta(5, ipv6(0xfe80, 0, 0, 0, 0, 0, 0, 1)), rta(4, le32(7)));
    expect(r).toMatchObject({ dst: 'default', gateway: 'fe80::1', dev: 'br0' });
  });

  it("prints a connected prefix with '/len', scope link, proto kernel, prefsrc", () => {
    const r = route(
      { family: 2, dstLen: 24, table: 254, protocol: 2, scope: 253, type: 1 },
      rta(15, le32(254)),
      rta(1, ipv4('10.1.2.0')),
      rta(7, ipv4('10.1.2.1')),
      rta(4, le32(7)),
    );
    expect(r).toStrictEqual({ dst: '10.1.2.0/24', dev: 'br0', protocol: 'kernel', scope: 'link', prefsrc: '10.1.2.1', flags: [] });
  });

  it('prints host routes without /32 or /128, and other IPv6 prefixes with their length', () => {
    expect(route({ family: 2, dstLen: 32, ...main }, rta(1, ipv4('10.1.2.3')), rta(4, le32(2))).dst).toBe('10.1.2.3');
    expect(route({ family: 10, dstLen: 128, ...main }, rta(1, ipv6(0xfd00, 0, 0, 0, 0, 0, 0, 1))).dst).toBe('fd00::1');
    expect(route({ family: 10, dstLen: 64, ...main }, rta(1, ipv6(0xfd00, 1, 0, 0, 0, 0, 0, 0))).dst).toBe('fd00:1::/64');
    expect(route({ family: 2, dstLen: 8, ...main }, rta(1, ipv4('10.0.0.0'))).dst).toBe('10.0.0.0/8');
  });

  it('names the local table, local and broadcast types and host scope', () => {
    const local = route(
      { family: 2, dstLen: 32, table: 255, protocol: 2, scope: 254, type: 2 },
      rta(15, le32(255)),
      rta(1, ipv4('10.1.2.1')),
      rta(7, ipv4('10.1.2.1')),
      rta(4, le32(7)),
    );
    expect(local).toStrictEqual({
      dst: '10.1.2.1',
      type: 'local',
      dev: 'br0',
      table: 'local',
      protocol: 'kernel',
      scope: 'host',
      prefsrc: '10.1.2.1',
      flags: [],
    });
    const brd = route({ family: 2, dstLen: 32, table: 255, protocol: 2, scope: 253, type: 3 }, rta(1, ipv4('10.1.2.255')), rta(4, le32(7)));
    expect(brd).toMatchObject({ dst: '10.1.2.255', type: 'broadcast', table: 'local', scope: 'link' });
  });

  it('takes the table from RTA_TABLE over the rtm_table byte', () => {
    // tables >= 256 come with rtm_table RT_TABLE_COMPAT (252) or 0 and the real id in RTA_TABLE
    expect(route({ family: 2, dstLen: 8, ...main, table: 252 }, rta(1, ipv4('10.0.0.0')), rta(15, le32(1000))).table).toBe('1000');
    expect(route({ family: 2, dstLen: 8, ...main, table: 0 }, rta(1, ipv4('10.0.0.0')), rta(15, le32(100))).table).toBe('100');
    expect(route({ family: 2, dstLen: 8, ...main, table: 100 }, rta(1, ipv4('10.0.0.0')), rta(15, le32(254)))).not.toHaveProperty('table');
    // without RTA_TABLE the byte counts
    expect(route({ family: 2, dstLen: 8, ...main, table: 253 }, rta(1, ipv4('10.0.0.0'))).table).toBe('default');
    expect(route({ family: 2, dstLen: 8, ...main, table: 100 }, rta(1, ipv4('10.0.0.0'))).table).toBe('100');
  });

  it.each([
    [2, 'kernel'],
    [3, 'boot'],
    [4, 'static'],
    [16, 'dhcp'],
    [99, '99'],
  ])('names protocol %i %s', (protocol, name) => {
    expect(route({ family: 2, dstLen: 8, ...main, protocol }, rta(1, ipv4('10.0.0.0'))).protocol).toBe(name);
  });

  it("prints scope 'link' for 253 and omits universe", () => {
    expect(route({ family: 2, dstLen: 8, ...main, scope: 253 }, rta(1, ipv4('10.0.0.0'))).scope).toBe('link');
    expect(route({ family: 2, dstLen: 8, ...main, scope: 0 }, rta(1, ipv4('10.0.0.0')))).not.toHaveProperty('scope');
  });

  it('reads the metric, and names unknown output devices if<index>, asking the callback with the index', () => {
    const asked: number[] = [];
    const r = decodeRoute(
      received(bytes(rtm({ family: 2, dstLen: 8, ...main, protocol: 4 }), rta(1, ipv4('10.0.0.0')), rta(6, le32(100)), rta(4, le32(42)))),
      (i) => {
        asked.push(i);
        return names[i];
      },
    );
    expect(asked).toContain(42);
    expect(r).toStrictEqual({ dst: '10.0.0.0/8', dev: 'if42', protocol: 'static', metric: 100, flags: [] });
  });

  it('names other route types', () => {
    expect(route({ family: 2, dstLen: 8, ...main, type: 6 }, rta(1, ipv4('10.0.0.0'))).type).toBe('blackhole');
    expect(route({ family: 2, dstLen: 8, ...main, type: 7 }, rta(1, ipv4('10.0.0.0'))).type).toBe('unreachable');
  });
});
