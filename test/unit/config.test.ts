// lib/cni/config.ts: zod schema validation turned into CNI errors that name the key and the value.

import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { configError, parseConfig, type Validator } from '../../lib/cni/config.ts';
import { baseConfigSchema, baseConfigShape } from '../../lib/cni/config-schema.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import { errorOf } from '../helpers/cni-error.ts';

// A plugin schema built the way plugins build theirs.
const pluginSchema = z.looseObject({
  ...baseConfigShape,
  bridge: z.optional(z.string()),
  isGateway: z.optional(z.boolean()),
  mtu: z.optional(z.int().check(z.minimum(46), z.maximum(65535))),
  mode: z.optional(z.enum(['l2', 'l3'])),
});

/** What the plugins build for a schema, without a compiled parser (as when running from source). */
const validatorOf = <T>(schema: z.ZodMiniType<T>): Validator<T> => ({ compiled: undefined, schema: async () => schema });

const rejected = (schema: z.ZodMiniType, raw: unknown) => errorOf(() => parseConfig(validatorOf(schema), raw));

const base = { cniVersion: '1.0.0', name: 'net1', type: 'bridge' };

describe('parseConfig', () => {
  it('accepts a valid config, keeps unknown keys (runtimes pass them through) and types the known ones', async () => {
    const cfg = await parseConfig(validatorOf(pluginSchema), {
      ...base,
      isGateway: true,
      mtu: 1400,
      somethingElse: { a: 1 },
      'cni.dev/x': 1,
    });
    expect(cfg.isGateway).toBe(true);
    expect(cfg.mtu).toBe(1400);
    expect((cfg as Record<string, unknown>).somethingElse).toEqual({ a: 1 });
  });

  it('tolerates what a runtime injects: cniVersions, capabilities, runtimeConfig, args, prevResult', async () => {
    const cfg = await parseConfig(validatorOf(baseConfigSchema), {
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

  it('a wrong type is code 7 naming the key and showing the value', async () => {
    // the Go plugins answer 999 ("json: cannot unmarshal string …"); 7 is what the spec defines
    const e = await rejected(pluginSchema, { ...base, isGateway: 'true' });
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.message).toContain('"isGateway"');
    expect(e.message).toContain('"true"');
  });

  it('a value out of range is code 7 naming the key', async () => {
    const e = await rejected(pluginSchema, { ...base, mtu: 10 });
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.message).toContain('"mtu"');
    expect(e.message).toContain('10');
  });

  it('a value outside an enumeration is code 2 (unsupported field value) naming key and value', async () => {
    const e = await rejected(pluginSchema, { ...base, mode: 'l9' });
    expect(e.code).toBe(ErrorCode.UnsupportedField);
    expect(e.message).toContain('"mode"');
    expect(e.message).toContain('"l9"');
  });

  it('nested keys are named by their full path', async () => {
    expect((await rejected(baseConfigSchema, { ...base, ipam: { type: 5 } })).message).toContain('"ipam.type"');
    expect((await rejected(baseConfigSchema, { ...base, runtimeConfig: { ips: ['10.0.0.1', 7] } })).message).toContain(
      '"runtimeConfig.ips[1]"',
    );
    expect((await rejected(baseConfigSchema, { ...base, runtimeConfig: { ipRanges: [[{ subnet: 1 }]] } })).message).toContain(
      '"runtimeConfig.ipRanges[0][0].subnet"',
    );
    expect((await rejected(baseConfigSchema, { ...base, dns: { nameservers: '8.8.8.8' } })).message).toContain('"dns.nameservers"');
    expect((await rejected(baseConfigSchema, { ...base, capabilities: { ips: 'yes' } })).message).toContain('"capabilities.ips"');
  });

  it('a missing required key says "missing"', async () => {
    const e = await rejected(baseConfigSchema, { cniVersion: '1.0.0' });
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.message).toContain('"name"');
    expect(e.message).toContain('missing');
  });

  it('a non-object config is named "(config)"', async () => {
    expect((await rejected(baseConfigSchema, 'nope')).message).toContain('(config)');
  });

  it('keeps the message short even for a huge value', async () => {
    const e = await rejected(pluginSchema, { ...base, bridge: 'x'.repeat(10_000).split('') });
    expect(e.message.length).toBeLessThan(300);
  });
});

describe('configError', () => {
  it('names key and value, code 7 unless told otherwise', async () => {
    const e = configError('subnet', '10.0.0.0/33', 'not a CIDR');
    expect(e).toBeInstanceOf(CniError);
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.message).toBe('invalid config key "subnet" = "10.0.0.0/33": not a CIDR');
    expect(configError('mode', 'x', 'unsupported', ErrorCode.UnsupportedField).code).toBe(2);
  });
});
