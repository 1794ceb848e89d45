// lib/cni/cni-args.ts: CNI_ARGS with Go's LoadArgs semantics.
import { describe, expect, it } from 'vitest';
import { KNOWN_CNI_ARGS, parseCniArgs } from '../../lib/cni/cni-args.ts';
import { ErrorCode } from '../../lib/cni/errors.ts';
import { errorOf } from '../helpers/cni-error.ts';

const rejected = (raw: string) => errorOf(() => parseCniArgs(raw));

describe('parseCniArgs', () => {
  it('empty means no arguments', () => {
    expect(parseCniArgs('').size).toBe(0);
  });

  it('parses what containerd and CRI-O send for every pod (order is not stable)', () => {
    const raw = 'K8S_POD_NAME=web-0;IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_INFRA_CONTAINER_ID=0123abcd;K8S_POD_UID=9f3c-11';
    const m = parseCniArgs(raw);
    expect(Object.fromEntries(m)).toEqual({
      K8S_POD_NAME: 'web-0',
      IgnoreUnknown: '1',
      K8S_POD_NAMESPACE: 'default',
      K8S_POD_INFRA_CONTAINER_ID: '0123abcd',
      K8S_POD_UID: '9f3c-11',
    });
  });

  it('known keys need no IgnoreUnknown', () => {
    expect(parseCniArgs('IP=10.1.0.9').get('IP')).toBe('10.1.0.9');
    expect(parseCniArgs('MAC=c2:11:22:33:44:55').get('MAC')).toBe('c2:11:22:33:44:55');
    expect(parseCniArgs('K8S_POD_NAME=a;K8S_POD_NAMESPACE=b').size).toBe(2);
    for (const k of ['IgnoreUnknown', 'IP', 'MAC', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']) {
      expect(KNOWN_CNI_ARGS.has(k)).toBe(true);
    }
  });

  it('rejects unknown keys with code 4 naming them', () => {
    const e = rejected('IP=10.1.0.9;FOO=1;BAR=2');
    expect(e.code).toBe(ErrorCode.InvalidEnvironment);
    expect(e.message).toContain('FOO');
    expect(e.message).toContain('BAR');
    expect(e.message).not.toContain('IP');
  });

  it('keys are case-sensitive', () => {
    expect(rejected('ip=10.1.0.9').code).toBe(ErrorCode.InvalidEnvironment);
    expect(rejected('ignoreunknown=1;x=y').code).toBe(ErrorCode.InvalidEnvironment);
    // with IgnoreUnknown the oddly-cased key is kept verbatim and is not "IP"
    const m = parseCniArgs('IgnoreUnknown=1;ip=10.1.0.9');
    expect(m.get('ip')).toBe('10.1.0.9');
    expect(m.has('IP')).toBe(false);
  });

  it.each(['1', 'true', 'TRUE', 'True'])('IgnoreUnknown=%s ignores unknown keys, wherever it appears', (v) => {
    expect(parseCniArgs(`FOO=1;IgnoreUnknown=${v}`).get('FOO')).toBe('1');
    expect(parseCniArgs(`IgnoreUnknown=${v};FOO=1`).get('FOO')).toBe('1');
  });

  it.each(['0', 'false', 'FALSE'])('IgnoreUnknown=%s keeps unknown keys an error', (v) => {
    expect(rejected(`IgnoreUnknown=${v};FOO=1`).code).toBe(ErrorCode.InvalidEnvironment);
    expect(parseCniArgs(`IgnoreUnknown=${v};IP=10.0.0.1`).get('IP')).toBe('10.0.0.1');
  });

  it.each(['yes', 'on', '2', ' 1'])('IgnoreUnknown=%j is not a boolean → code 4', (v) => {
    expect(rejected(`IgnoreUnknown=${v}`).code).toBe(ErrorCode.InvalidEnvironment);
  });

  it.each([
    'IP',
    'IP=a=b', // Go splits on every "=" and demands exactly two parts
    '=x',
    'IgnoreUnknown=1;novalue',
    'IgnoreUnknown=1;a=b=c',
  ])('rejects the malformed pair in %j with code 4', (raw) => {
    expect(rejected(raw).code).toBe(ErrorCode.InvalidEnvironment);
  });

  it('allows empty values', () => {
    expect(parseCniArgs('IgnoreUnknown=1;K8S_POD_UID=').get('K8S_POD_UID')).toBe('');
  });

  it('tolerates empty pairs (a trailing ";"), which Go rejects', () => {
    expect(Object.fromEntries(parseCniArgs('IP=10.0.0.1;'))).toEqual({ IP: '10.0.0.1' });
    expect(parseCniArgs(';;').size).toBe(0);
  });

  it('the last occurrence of a repeated key wins', () => {
    expect(parseCniArgs('IP=10.0.0.1;IP=10.0.0.2').get('IP')).toBe('10.0.0.2');
  });
});
