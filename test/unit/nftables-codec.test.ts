// lib/firewall/nftables/codec.ts and the features' netlink messages, byte for byte against what
// `nft` 1.0.6 sends for the same scripts. The fixtures are the batches nft wrote to its netlink
// socket (strace -e trace=sendmsg -e write=3, hex), for the scripts the Node path feeds to nft:
//   nft-masq-setup.hex       setupScript('masqnet', 'eth0', 'c0ffee', ['10.67.0.5/24', 'fd67::5/64'], [])
//   nft-masq-odd.hex         setupScript('net1', 'eth0', 'abc', <odd prefixes below>, [7, 9])
//   nft-spoofcheck-setup.hex freshSetupScript('c0ffee', 'eth0', 'veth1234abcd', '02:AA:00:00:00:01') (nft -j -f)
//   nft-portmap-setup.hex    portmap's ADD on a bare node (PORTMAP_WANT below, dual stack): both tables
//   nft-portmap-masqall.hex  the same with masqAll, pods 10.1.16.5/20 and fd00:1:2:30::5/60, two mappings
//   nft-portmap-prefixes.hex the same pods without masqAll, one mapping (hairpin sources /20 and /60)
//   nft-portmap-readd.hex    a re-ADD (pod moved to 10.88.0.6, v4 only, one mapping) on the tables that
//                            nft-portmap-setup.hex made, with output's jump changed by hand; those tables as
//                            `nft -j list table` printed them: nft-portmap-listed-ip.json, nft-portmap-listed-ip6.json
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { setupMessages } from '../../lib/firewall/masquerade-setup.ts';
import {
  addRule,
  commentAttr,
  commentIsAt,
  commentStartsWith,
  commentUdata,
  decodeExpr,
  decodeRule,
  type Expr,
  encodeBatch,
  encodeMessage,
  exprText,
  jumpTarget,
  sameExprs,
  udataComment,
  verdict,
} from '../../lib/firewall/nftables/codec.ts';
import { exprFacts, stepsMessages, stepsScript, type Views, viewOfJson } from '../../lib/firewall/portmap-nft.ts';
import { planSetup as planHostports, ruleExprs } from '../../lib/firewall/portmap-nft-setup.ts';
import type { HostportWant } from '../../lib/firewall/portmap-want.ts';
import { freshSetupMessages } from '../../lib/firewall/spoofcheck.ts';
import { attrBytes } from '../../lib/kernel/netlink-codec.ts';
import { parseCidr } from '../../lib/net/address.ts';

const fixture = (name: string): string => readFileSync(join(__dirname, 'fixtures', name), 'utf8').trim();
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const PORTMAP_WANT: HostportWant = {
  mappings: [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp' },
    { hostPort: 8443, containerPort: 443, protocol: 'tcp', hostIP: '10.88.0.1', hostFamily: 4 },
    { hostPort: 9000, containerPort: 90, protocol: 'sctp', hostIP: 'fd00:88::1', hostFamily: 6 },
    { hostPort: 9001, containerPort: 91, protocol: 'tcp', hostFamily: 4 },
  ],
  pod: { 4: parseCidr('10.88.0.5/16')!, 6: parseCidr('fd00:88::5/64')! },
  snat: true,
  masqAll: false,
  mark: 0x2000,
  conditions: { 4: [], 6: [] },
};
const ODD_PODS = { 4: parseCidr('10.1.16.5/20')!, 6: parseCidr('fd00:1:2:30::5/60')! };
const NO_TABLES: Views = { 4: viewOfJson(null, 'c0ffee'), 6: viewOfJson(null, 'c0ffee') };
const listed = (name: string) => JSON.parse(fixture(name)).nftables;
/** The plan of a portmap ADD, as nf_tables messages. */
const hostportBatch = (want: HostportWant, views: Views) =>
  hex(encodeBatch(stepsMessages(planHostports('c0ffee', want, views)!, ruleExprs), 0, false));

describe('nf_tables messages match nft byte for byte', () => {
  it('masquerade setup (table, chains, postrouting rebuild, one rule per address)', () => {
    const msgs = setupMessages('masqnet', 'eth0', 'c0ffee', ['10.67.0.5/24', 'fd67::5/64'], []);
    expect(hex(encodeBatch(msgs, 0, false))).toBe(fixture('nft-masq-setup.hex'));
  });

  it('masquerade setup with odd prefixes (/20, /60, /32, /25, /128, /0, /8) and stale handles', () => {
    const ips = ['10.1.16.5/20', 'fd00:1:2:30::5/60', '192.168.7.7/32', '10.5.0.5/25', 'fd01::1/128', '10.9.9.9/0', '10.2.0.5/8'];
    const msgs = setupMessages('net1', 'eth0', 'abc', ips, [7, 9]);
    expect(hex(encodeBatch(msgs, 0, false))).toBe(fixture('nft-masq-odd.hex'));
  });

  it('spoof check setup (bridge table, base chain with policy, created chains, iifname and ether saddr matches)', () => {
    const msgs = freshSetupMessages('c0ffee', 'eth0', 'veth1234abcd', '02:AA:00:00:00:01');
    expect(hex(encodeBatch(msgs, 0, false))).toBe(fixture('nft-spoofcheck-setup.hex'));
  });

  it('portmap ADD on a bare node (both tables, base chains, fib, l4 dport, hostIP, dnat to addr:port, masquerade)', () => {
    expect(hostportBatch(PORTMAP_WANT, NO_TABLES)).toBe(fixture('nft-portmap-setup.hex'));
  });

  it('portmap ADD with masqAll (/0 sources) and with /20 and /60 hairpin sources', () => {
    expect(hostportBatch({ ...PORTMAP_WANT, masqAll: true, mappings: PORTMAP_WANT.mappings.slice(0, 2), pod: ODD_PODS }, NO_TABLES)).toBe(
      fixture('nft-portmap-masqall.hex'),
    );
    expect(hostportBatch({ ...PORTMAP_WANT, mappings: PORTMAP_WANT.mappings.slice(0, 1), pod: ODD_PODS }, NO_TABLES)).toBe(
      fixture('nft-portmap-prefixes.hex'),
    );
  });

  it('portmap re-ADD on existing tables: a changed hook chain rewritten, the old rules deleted by handle, nothing else', () => {
    const views: Views = {
      4: viewOfJson(listed('nft-portmap-listed-ip.json'), 'c0ffee'),
      6: viewOfJson(listed('nft-portmap-listed-ip6.json'), 'c0ffee'),
    };
    const want = { ...PORTMAP_WANT, mappings: PORTMAP_WANT.mappings.slice(0, 1), pod: { 4: parseCidr('10.88.0.6/16')! } };
    expect(hostportBatch(want, views)).toBe(fixture('nft-portmap-readd.hex'));
    expect(stepsScript(planHostports('c0ffee', want, views)!).split('\n')[0]).toBe('flush chain ip cni_hostport output');
  });

  it('asks for an ACK on every message of a batch when told to (and only then)', () => {
    const msgs = setupMessages('masqnet', 'eth0', 'c0ffee', ['10.67.0.5/24'], []);
    const withAck = encodeBatch(msgs, 100, true);
    const without = encodeBatch(msgs, 100, false);
    expect(withAck.length).toBe(without.length);
    let off = 0;
    let acks = 0;
    const v = new DataView(withAck.buffer);
    while (off < withAck.length) {
      const len = v.getUint32(off, true);
      const type = v.getUint16(off + 4, true);
      if (v.getUint16(off + 6, true) & 4) acks++;
      if (type === 0x10 || type === 0x11) expect(v.getUint16(off + 6, true) & 4).toBe(0);
      off += len;
    }
    expect(acks).toBe(msgs.length);
  });
});

describe('decoding what the kernel dumps', () => {
  const rule: Expr[] = [
    { kind: 'meta', key: 15, dreg: 1 },
    { kind: 'cmp', sreg: 1, op: 0, data: Uint8Array.of(2) },
    { kind: 'payload', base: 1, offset: 16, len: 4, dreg: 1 },
    { kind: 'bitwise', sreg: 1, dreg: 1, mask: Uint8Array.of(0xf0, 0, 0, 0), xor: new Uint8Array(4) },
    { kind: 'cmp', sreg: 1, op: 0, data: Uint8Array.of(0xe0, 0, 0, 0) },
    verdict('return'),
  ];

  it('a rule decodes to the expressions it was made of, with its handle and comment', () => {
    const m = encodeMessage(addRule({ family: 'inet', table: 't' }, 'c', [...rule, verdict('goto', 'masq_checks')], 'hello'), 1);
    // A dump answer is a NEWRULE like the request, plus the handle the kernel gave it.
    const withHandle = new Uint8Array([...m, 12, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 42]);
    new DataView(withHandle.buffer).setUint32(0, withHandle.length, true);
    const r = decodeRule(withHandle.subarray(16));
    expect(r).toMatchObject({ table: 't', chain: 'c', handle: 42, comment: 'hello' });
    expect(r.exprs.map(exprText)).toEqual([...rule, verdict('goto', 'masq_checks')].map(exprText));
    expect(jumpTarget(r)).toBe('masq_checks');
    expect(sameExprs(r, [...rule, verdict('goto', 'masq_checks')])).toBe(true);
    expect(sameExprs(r, [...rule, verdict('goto', 'other')])).toBe(false);
    expect(sameExprs(r, rule)).toBe(false);
  });

  it('an expression it does not model decodes as unknown, never as a guess', () => {
    // counter: name "counter", data {bytes, packets}
    const m = encodeMessage(addRule({ family: 'ip', table: 't' }, 'c', [verdict('accept')]), 1);
    const r = decodeRule(m.subarray(16));
    expect(r.exprs).toEqual([{ kind: 'verdict', verdict: 'accept' }]);
    const counter = Uint8Array.of(12, 0, 1, 0, ...new TextEncoder().encode('counter\0'), 4, 0, 2, 0x80);
    const list = Uint8Array.of(counter.length + 4, 0, 1, 0x80, ...counter);
    const payload = Uint8Array.of(2, 0, 0, 0, 8, 0, 1, 0, 116, 0, 0, 0, list.length + 4, 0, 4, 0x80, ...list);
    expect(decodeRule(payload).exprs).toEqual([{ kind: 'unknown', name: 'counter' }]);
  });

  it('filters a dump by comment prefix on the bytes, before decoding', () => {
    const enc = (comment?: string) =>
      encodeMessage(addRule({ family: 'inet', table: 't' }, 'c', [verdict('accept')], comment), 1).subarray(16);
    const p = new TextEncoder().encode('abc-');
    expect(commentStartsWith(enc('abc-def'), p)).toBe(true);
    expect(commentStartsWith(enc('abc'), p)).toBe(false);
    expect(commentStartsWith(enc('xabc-def'), p)).toBe(false);
    expect(commentStartsWith(enc(), p)).toBe(false);
  });

  it('a nat expression as the kernel dumps it (maximum registers, implied flags) is the one nft wrote', () => {
    const be = (n: number) => Uint8Array.of(0, 0, 0, n);
    const nat = (attrs: Array<[number, number]>) =>
      decodeExpr(
        attrBytes([
          [1, new TextEncoder().encode('nat\0')],
          [2, attrs.map(([t, v]): [number, Uint8Array] => [t, be(v)])],
        ]),
      );
    // type dnat, family ip, addr min/max reg 1, proto min/max reg 2, flags MAP_IPS | PROTO_SPECIFIED
    const dumped = nat([
      [1, 1],
      [2, 2],
      [3, 1],
      [4, 1],
      [5, 2],
      [6, 2],
      [7, 3],
    ]);
    expect(dumped).toEqual({ kind: 'nat', type: 1, family: 2, addrReg: 1, protoReg: 2, flags: 3 });
    const immediates: Expr[] = [
      { kind: 'immediate', dreg: 1, data: Uint8Array.of(10, 88, 0, 5) },
      { kind: 'immediate', dreg: 2, data: Uint8Array.of(0, 80) },
    ];
    expect(exprFacts(4, [...immediates, dumped])).toEqual({ dnat: { addr: '10.88.0.5', port: 80 } });
    // A range (maximum register of its own) is not modelled.
    expect(
      nat([
        [1, 1],
        [2, 2],
        [3, 1],
        [4, 3],
        [5, 2],
        [6, 2],
        [7, 3],
      ]),
    ).toEqual({ kind: 'unknown', name: 'nat' });
    // Without the port flag it rewrites no port: not our rule.
    expect(exprFacts(4, [...immediates, { ...dumped, flags: 1 } as Expr]).other).toBeGreaterThan(0);
  });

  it('finds a rule of exactly this comment in place, at the end of the message as the kernel dumps it', () => {
    const enc = (comment?: string) =>
      encodeMessage(addRule({ family: 'ip', table: 't' }, 'hostports', [verdict('accept')], comment), 1).subarray(16);
    const attr = commentAttr('c0ffee');
    const inBuffer = (p: Uint8Array) => {
      const buf = new Uint8Array(p.length + 40);
      buf.set(p, 20); // somewhere inside a received datagram
      return commentIsAt(buf, 20, 20 + p.length, attr);
    };
    expect(inBuffer(enc('c0ffee'))).toBe(true);
    expect(inBuffer(enc('c0ffee1'))).toBe(false);
    expect(inBuffer(enc('c0ffe'))).toBe(false);
    expect(inBuffer(enc('xc0ffee'))).toBe(false);
    expect(inBuffer(enc())).toBe(false);
    expect(commentIsAt(Uint8Array.of(1, 2), 0, 2, attr)).toBe(false);
  });

  it('user data comments round-trip, and other user data is ignored', () => {
    expect(udataComment(commentUdata('macspoofchk-x-eth0'))).toBe('macspoofchk-x-eth0');
    expect(udataComment(Uint8Array.of(1, 2, 9, 9, ...commentUdata('c')))).toBe('c');
    expect(udataComment(Uint8Array.of(1, 2, 9, 9))).toBeUndefined();
    expect(() => commentUdata('x'.repeat(300))).toThrow();
  });
});
