// lib/cni/schema.ts: the config validator that replaced zod/mini (same API subset, same first issue).
import { describe, expect, it } from 'vitest';
import * as z from '../../lib/cni/schema.ts';

const firstIssue = (s: z.Schema, v: unknown) => {
  const r = s.safeParse(v);
  if (r.success) throw new Error('expected a failure');
  return r.error.issues[0]!;
};

describe('schema', () => {
  it('reports the first failing key in declaration order, with its full path', () => {
    const s = z.looseObject({ a: z.string(), b: z.optional(z.array(z.looseObject({ c: z.int() }))) });
    expect(firstIssue(s, { b: [{ c: 1 }, { c: 'x' }] })).toMatchObject({ code: 'invalid_type', path: ['a'], expected: 'string' });
    expect(firstIssue(s, { a: 'ok', b: [{ c: 1 }, { c: 'x' }] })).toMatchObject({
      code: 'invalid_type',
      path: ['b', 1, 'c'],
      expected: 'int',
    });
  });

  it('int: whole, safe numbers only; checks give too_small / too_big', () => {
    const mtu = z.int().check(z.minimum(0), z.maximum(65535));
    expect(mtu.safeParse(1500)).toEqual({ success: true, data: 1500 });
    expect(firstIssue(mtu, 1.5)).toMatchObject({ code: 'invalid_type', expected: 'int' });
    expect(firstIssue(mtu, '1500')).toMatchObject({ code: 'invalid_type' });
    expect(firstIssue(mtu, -1)).toMatchObject({ code: 'too_small', minimum: 0, inclusive: true });
    expect(firstIssue(mtu, 70000)).toMatchObject({ code: 'too_big', maximum: 65535 });
    expect(firstIssue(z.int(), 2 ** 60)).toMatchObject({ code: 'too_big' });
  });

  it('enum is invalid_value listing the allowed values', () => {
    expect(firstIssue(z.enum(['iptables', 'nftables']), 'pf')).toMatchObject({ code: 'invalid_value', values: ['iptables', 'nftables'] });
  });

  it('optional accepts only undefined; nullish also null', () => {
    expect(z.optional(z.string()).safeParse(undefined).success).toBe(true);
    expect(z.optional(z.string()).safeParse(null).success).toBe(false);
    expect(z.nullish(z.string()).safeParse(null)).toEqual({ success: true, data: null });
  });

  it('object drops unknown keys, looseObject keeps them; absent optional keys stay absent', () => {
    const shape = { a: z.optional(z.string()) };
    expect(z.object(shape).safeParse({ x: 1 })).toEqual({ success: true, data: {} });
    expect(z.looseObject(shape).safeParse({ x: 1 })).toEqual({ success: true, data: { x: 1 } });
    expect('a' in (z.looseObject(shape).safeParse({}) as { data: object }).data).toBe(false);
  });

  it('arrays, records and objects reject the other JSON types (null and arrays are not objects)', () => {
    expect(firstIssue(z.array(z.string()), 'x')).toMatchObject({ expected: 'array' });
    expect(firstIssue(z.record(z.string(), z.boolean()), [])).toMatchObject({ expected: 'record' });
    expect(firstIssue(z.record(z.string(), z.boolean()), { ips: 'yes' })).toMatchObject({ path: ['ips'], expected: 'boolean' });
    expect(firstIssue(z.looseObject({}), null)).toMatchObject({ expected: 'object' });
    expect(firstIssue(z.looseObject({}), [1])).toMatchObject({ expected: 'object' });
  });
});
