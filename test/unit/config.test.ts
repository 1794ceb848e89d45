// lib/cni/config.ts: schema validation turned into CNI errors that name the key and the value.
import { describe, expect, it } from 'vitest';
import { baseConfigSchema, baseConfigShape, configError, parseConfig } from '../../lib/cni/config.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import * as z from '../../lib/cni/schema.ts';
import { errorOf } from '../helpers/cni-error.ts';

// A plugin schema built the way plugins build theirs.
const pluginSchema = z.looseObject({
  ...baseConfigShape,
  bridge: z.optional(z.string()),
  isGateway: z.optional(z.boolean()),
  mtu: z.optional(z.int().check(z.minimum(46), z.maximum(65535))),
  mode: z.optional(z.enum(['l2', 'l3'])),
});

const rejected = (schema: z.Schema, raw: unknown) => errorOf(() => parseConfig(schema, raw));

const base = { cniVersion: '1.0.0', name: 'net1', type: 'bridge' };

describe('parseConfig', () => {
  it('accepts a valid config, keeps unknown keys (runtimes pass them through) and types the known ones', () => {
    const cfg = parseConfig(pluginSchema, { ...base, isGateway: true, mtu: 1400, somethingElse: { a: 1 }, 'cni.dev/x': 1 });
    expect(cfg.isGateway).toBe(true);
    expect(cfg.mtu).toBe(1400);
    expect((cfg as Record<string, unknown>).somethingElse).toEqual({ a: 1 });
  });

  it('tolerates what a runtime injects: cniVersions, capabilities, runtimeConfig, args, prevResult', () => {
    const cfg = parseConfig(baseConfigSchema, {
      ...base,
      cniVersions: ['0.4.0', '1.0.0', '1.1.0'],
      capabilities: { ips: true, mac: true },
      runtimeConfig: { ips: ['10.1.0.9/24'], mac: 'c2:11:22:33:44:55', ipRanges: [[{ subnet: '10.2.0.0/24' }]], portMappings: [] },
      args: { cni: { ips: ['10.1.0.9'], labels: [{ key: 'a', value: 'b' }] }, other: 1 },
      prevResult: { cniVersion: '1.0.0', ips: [] },
    });
    expect(cfg.runtimeConfig?.ips).toEqual(['10.1.0.9/24']);
    expect(cfg.args?.cni?.ips).toEqual(['10.1.0.9']);
  });

  it('a wrong type is code 7 naming the key and showing the value', () => {
    // the Go plugins answer 999 ("json: cannot unmarshal string …"); 7 is what the spec defines
    const e = rejected(pluginSchema, { ...base, isGateway: 'true' });
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.message).toContain('"isGateway"');
    expect(e.message).toContain('"true"');
  });

  it('a value out of range is code 7 naming the key', () => {
    const e = rejected(pluginSchema, { ...base, mtu: 10 });
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.message).toContain('"mtu"');
    expect(e.message).toContain('10');
  });

  it('a value outside an enumeration is code 2 (unsupported field value) naming key and value', () => {
    const e = rejected(pluginSchema, { ...base, mode: 'l9' });
    expect(e.code).toBe(ErrorCode.UnsupportedField);
    expect(e.message).toContain('"mode"');
    expect(e.message).toContain('"l9"');
  });

  it('nested keys are named by their full path', () => {
    expect(rejected(baseConfigSchema, { ...base, ipam: { type: 5 } }).message).toContain('"ipam.type"');
    expect(rejected(baseConfigSchema, { ...base, runtimeConfig: { ips: ['10.0.0.1', 7] } }).message).toContain('"runtimeConfig.ips[1]"');
    expect(rejected(baseConfigSchema, { ...base, runtimeConfig: { ipRanges: [[{ subnet: 1 }]] } }).message).toContain(
      '"runtimeConfig.ipRanges[0][0].subnet"',
    );
    expect(rejected(baseConfigSchema, { ...base, dns: { nameservers: '8.8.8.8' } }).message).toContain('"dns.nameservers"');
    expect(rejected(baseConfigSchema, { ...base, capabilities: { ips: 'yes' } }).message).toContain('"capabilities.ips"');
  });

  it('a missing required key says "missing"', () => {
    const e = rejected(baseConfigSchema, { cniVersion: '1.0.0' });
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.message).toContain('"name"');
    expect(e.message).toContain('missing');
  });

  it('a non-object config is named "(config)"', () => {
    expect(rejected(baseConfigSchema, 'nope').message).toContain('(config)');
  });

  it('keeps the message short even for a huge value', () => {
    const e = rejected(pluginSchema, { ...base, bridge: 'x'.repeat(10_000).split('') });
    expect(e.message.length).toBeLessThan(300);
  });
});

describe('configError', () => {
  it('names key and value, code 7 unless told otherwise', () => {
    const e = configError('subnet', '10.0.0.0/33', 'not a CIDR');
    expect(e).toBeInstanceOf(CniError);
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.message).toBe('invalid config key "subnet" = "10.0.0.0/33": not a CIDR');
    expect(configError('mode', 'x', 'unsupported', ErrorCode.UnsupportedField).code).toBe(2);
  });
});
