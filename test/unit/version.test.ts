// lib/cni/version.ts: the supported list, semver parsing, ordering and the result shape per version.
import { describe, expect, it } from 'vitest';
import {
  CURRENT_VERSION,
  compareVersions,
  isSupportedVersion,
  parseSemver,
  resultShapeOf,
  SUPPORTED_VERSIONS,
  versionAtLeast,
} from '../../lib/cni/version.ts';

describe('versions', () => {
  it('supports exactly the spec versions, newest last', () => {
    expect([...SUPPORTED_VERSIONS]).toEqual(['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    expect(CURRENT_VERSION).toBe('1.1.0');
  });

  it('recognises only exact supported strings', () => {
    for (const v of SUPPORTED_VERSIONS) expect(isSupportedVersion(v)).toBe(true);
    for (const v of ['1.1', '1.1.0 ', 'v1.0.0', '0.5.0', '2.0.0', '1.0.0-rc1', '', undefined, 1, null]) {
      expect(isSupportedVersion(v)).toBe(false);
    }
  });

  it('parses semver triples and nothing else', () => {
    expect(parseSemver('0.3.1')).toEqual([0, 3, 1]);
    expect(parseSemver('10.20.30')).toEqual([10, 20, 30]);
    for (const v of ['1.0', '1', '01.0.0', '1.0.0-rc1', '1.0.0.0', 'a.b.c', ' 1.0.0', '']) expect(parseSemver(v)).toBeNull();
  });

  it('orders numerically, not lexically', () => {
    expect(compareVersions('0.10.0', '0.9.0')).toBeGreaterThan(0);
    expect(compareVersions('0.3.1', '0.3.0')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0', '0.4.0')).toBeGreaterThan(0);
    expect(compareVersions('1.1.0', '1.1.0')).toBe(0);
    expect(compareVersions('0.1.0', '0.2.0')).toBeLessThan(0);
    const shuffled = ['1.0.0', '0.3.1', '0.1.0', '1.1.0', '0.4.0', '0.2.0', '0.3.0'];
    expect(shuffled.sort(compareVersions)).toEqual([...SUPPORTED_VERSIONS]);
  });

  it('gates by minimum version', () => {
    expect(versionAtLeast('0.4.0', '0.4.0')).toBe(true);
    expect(versionAtLeast('0.3.1', '0.4.0')).toBe(false);
    expect(versionAtLeast('1.0.0', '1.1.0')).toBe(false);
    expect(versionAtLeast('1.1.0', '1.1.0')).toBe(true);
  });

  it.each([
    ['0.1.0', 'legacy'],
    ['0.2.0', 'legacy'],
    ['0.3.0', 'current'],
    ['0.3.1', 'current'],
    ['0.4.0', 'current'],
    ['1.0.0', 'v1'],
    ['1.1.0', 'v1'],
  ])('result shape of %s is %s', (v, shape) => {
    expect(resultShapeOf(v)).toBe(shape);
  });
});
