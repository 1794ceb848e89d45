// The lease index's text form and lookups (ipam/lease-index.ts): what is trusted, what is refused.
import { describe, expect, it } from 'vitest';
import { LeaseIndex, NO_OWNER, ownerDigest } from '../../ipam/lease-index.ts';

const STAMP = 'boot-1/2049:1234/1700000000000000000/1700000001123456789';

describe('owner digests', () => {
  it('digest the trimmed content, so padding does not change the owner (as the reference compares)', () => {
    expect(ownerDigest('abc\r\neth0')).toBe(ownerDigest('  abc\r\neth0\n'));
    expect(ownerDigest('abc\r\neth0')).not.toBe(ownerDigest('abc\r\neth1'));
    expect(ownerDigest('abc\r\neth0')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('an empty or unreadable lease has no owner', () => {
    expect(ownerDigest('')).toBe(NO_OWNER);
    expect(ownerDigest(' \r\n')).toBe(NO_OWNER);
    expect(ownerDigest(undefined)).toBe(NO_OWNER);
  });
});

describe('LeaseIndex lookups', () => {
  const index = () =>
    LeaseIndex.of([
      ['10.0.0.2', 'aaaa'],
      ['10.0.0.20', 'bbbb'],
      ['fd00::2', 'aaaa'],
      ['10.0.0.3', NO_OWNER],
    ]);

  it('finds names exactly (10.0.0.2 is not 10.0.0.20) and by digest', () => {
    const i = index();
    expect(i.has('10.0.0.2')).toBe(true);
    expect(i.has('10.0.0.20')).toBe(true);
    expect(i.has('10.0.0.')).toBe(false);
    expect(i.has('0.0.2')).toBe(false);
    expect(i.namesWith('aaaa')).toEqual(['10.0.0.2', 'fd00::2']);
    expect(i.namesWith('aaa')).toEqual([]);
    expect(i.namesWith(NO_OWNER)).toEqual(['10.0.0.3']);
    expect(i.names()).toEqual(['10.0.0.2', '10.0.0.20', 'fd00::2', '10.0.0.3']);
  });

  it('set replaces an entry, delete removes exactly one', () => {
    const i = index();
    i.set('10.0.0.2', 'cccc');
    expect(i.namesWith('aaaa')).toEqual(['fd00::2']);
    expect(i.namesWith('cccc')).toEqual(['10.0.0.2']);
    i.delete('10.0.0.2');
    i.delete('10.0.0.99');
    expect(i.names()).toEqual(['10.0.0.20', 'fd00::2', '10.0.0.3']);
    expect(i.has('10.0.0.2')).toBe(false);
    expect(LeaseIndex.empty().names()).toEqual([]);
  });
});

describe('LeaseIndex text form', () => {
  it('round-trips for the stamp it was written with', () => {
    const text = LeaseIndex.of([
      ['10.0.0.2', 'aaaa'],
      ['fd00::2', NO_OWNER],
    ]).format(STAMP);
    expect(text).toBe(`cni-ts lease index 1 ${STAMP} 24\n10.0.0.2 aaaa\nfd00::2 -\nend ${STAMP}\n`);
    expect(LeaseIndex.parse(text, STAMP)?.names()).toEqual(['10.0.0.2', 'fd00::2']);
    expect(LeaseIndex.parse(LeaseIndex.empty().format(STAMP), STAMP)?.names()).toEqual([]);
  });

  it('is refused for any other stamp (the directory changed since)', () => {
    const text = LeaseIndex.of([['10.0.0.2', 'aaaa']]).format(STAMP);
    expect(LeaseIndex.parse(text, STAMP.replace(/9$/, '8'))).toBeUndefined();
    expect(LeaseIndex.parse(text, `x${STAMP}`)).toBeUndefined();
  });

  it('a write cut short at any byte is never taken for an index; bytes after the trailer are ignored', () => {
    const text = LeaseIndex.of([
      ['10.0.0.2', 'aaaa'],
      ['10.0.0.3', 'bbbb'],
    ]).format(STAMP);
    for (let n = 0; n < text.length; n++) expect(LeaseIndex.parse(text.slice(0, n), STAMP), `cut at ${n}`).toBeUndefined();
    expect(LeaseIndex.parse(`${text}10.0.0.9 cccc\n`, STAMP)?.names()).toEqual(['10.0.0.2', '10.0.0.3']);
  });

  it('refuses other formats and a body whose length does not fit', () => {
    const text = LeaseIndex.of([['10.0.0.2', 'aaaa']]).format(STAMP);
    expect(LeaseIndex.parse(text.replace('index 1', 'index 2'), STAMP)).toBeUndefined();
    expect(LeaseIndex.parse(text.replace(' 14\n', ' 13\n'), STAMP)).toBeUndefined();
    expect(LeaseIndex.parse(text.replace(' 14\n', ' x\n'), STAMP)).toBeUndefined();
    expect(LeaseIndex.parse('', STAMP)).toBeUndefined();
    expect(LeaseIndex.parse('abc\r\neth0', STAMP)).toBeUndefined();
  });
});
