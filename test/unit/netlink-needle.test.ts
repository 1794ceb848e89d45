// Picking a dump's messages by their bytes before they become messages (lib/kernel/netlink.ts
// messagesContaining, on lib/platform/bytes.ts indexOfBytes): what the firewall's chain reads keep.
import { describe, expect, it } from 'vitest';
import { messagesContaining } from '../../lib/kernel/netlink.ts';
import { indexOfBytes } from '../../lib/platform/bytes.ts';

const text = (s: string) => new TextEncoder().encode(s);

/** One netlink message: 16-byte header (length, type, flags, seq, pid), payload, padding to 4. */
function nlmsg(type: number, seq: number, payload: Uint8Array): Uint8Array {
  const len = 16 + payload.length;
  const out = new Uint8Array((len + 3) & ~3);
  const v = new DataView(out.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, type, true);
  v.setUint16(6, 2, true);
  v.setUint32(8, seq, true);
  out.set(payload, 16);
  return out;
}
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

describe('indexOfBytes (the JavaScript fallback of memmem)', () => {
  it('finds the first occurrence at or after `from`, or -1', () => {
    const hay = text('abcabcab');
    expect(indexOfBytes(hay, text('cab'))).toBe(2);
    expect(indexOfBytes(hay, text('cab'), 3)).toBe(5);
    expect(indexOfBytes(hay, text('cab'), 6)).toBe(-1);
    expect(indexOfBytes(hay, text('abd'))).toBe(-1);
    expect(indexOfBytes(hay, new Uint8Array(0))).toBe(-1);
    expect(indexOfBytes(text('ab'), text('abc'))).toBe(-1);
  });
});

describe('messagesContaining', () => {
  const NEWRULE = 0xa06; // nf_tables NEWRULE (any type >= 0x10 is data)
  const mine = text('0123456789abcdef-fedcba9876543210, net: n');

  it('keeps the data messages holding the needle, and every control message', () => {
    const buf = concat(
      nlmsg(NEWRULE, 7, text('rule one: someone else')),
      nlmsg(NEWRULE, 7, concat(text('rule two: '), mine)),
      nlmsg(NEWRULE, 7, text('rule three')),
      nlmsg(3 /* DONE */, 7, new Uint8Array(4)),
    );
    const kept = messagesContaining(buf, text('0123456789abcdef-fedcba9876543210'));
    expect(kept.map((m) => [m.type, m.seq])).toEqual([
      [NEWRULE, 7],
      [3, 7],
    ]);
    expect(new TextDecoder().decode(kept[0]!.payload)).toBe('rule two: 0123456789abcdef-fedcba9876543210, net: n');
  });

  it('a needle in a header or spread over two messages keeps neither', () => {
    const a = nlmsg(NEWRULE, 1, text('ends with abc'));
    const b = nlmsg(NEWRULE, 1, text('def starts'));
    // "abc" + padding + the next header + "def": no message holds "abcdef" whole.
    expect(messagesContaining(concat(a, b), text('abcdef'))).toEqual([]);
    const seqBytes = new Uint8Array(a.subarray(8, 12)); // the seq field of a's header
    expect(messagesContaining(concat(a, b), seqBytes).map((m) => m.type)).toEqual([]);
  });

  it('payloads are copies: the receive buffer may be reused', () => {
    const buf = concat(nlmsg(NEWRULE, 2, text('xx-needle-xx')));
    const [m] = messagesContaining(buf, text('needle'));
    buf.fill(0);
    expect(new TextDecoder().decode(m!.payload)).toBe('xx-needle-xx');
  });

  it('stops at a truncated message instead of reading past the buffer', () => {
    const whole = nlmsg(NEWRULE, 2, text('needle'));
    expect(messagesContaining(whole.subarray(0, whole.length - 4), text('needle'))).toEqual([]);
  });
});
