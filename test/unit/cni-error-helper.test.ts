// test/helpers/cni-error.ts: errorOf must fail the test whenever no CniError comes out.
import { describe, expect, it } from 'vitest';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import { errorOf } from '../helpers/cni-error.ts';

const boom = new CniError(ErrorCode.InvalidConfig, 'bad', 'why');

describe('errorOf', () => {
  it('returns the CniError thrown, or the one a promise rejects with', async () => {
    expect(
      errorOf(() => {
        throw boom;
      }),
    ).toBe(boom);
    expect(await errorOf(async () => Promise.reject(boom))).toBe(boom);
  });

  it('throws when nothing is thrown, the promise resolves, or something else is thrown', async () => {
    expect(() => errorOf(() => 1)).toThrow(/expected a CniError, but it returned 1/);
    await expect(errorOf(async () => 'ok')).rejects.toThrow(/expected a CniError, but the promise resolved to "ok"/);
    expect(() =>
      errorOf(() => {
        throw new TypeError('x');
      }),
    ).toThrow(/expected a CniError, got TypeError: x/);
    await expect(errorOf(() => Promise.reject(new Error('y')))).rejects.toThrow(/got Error: y/);
  });
});
