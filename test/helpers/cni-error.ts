// The CniError a piece of code throws, for tests that assert on its code, msg or details.
import { CniError } from '../../lib/cni/errors.ts';

/**
 * The CniError `fn` throws, or its promise rejects with. Fails the test (by throwing) when it
 * returns normally, resolves, or throws anything but a CniError.
 */
export function errorOf(fn: () => PromiseLike<unknown>): Promise<CniError>;
export function errorOf(fn: () => unknown): CniError;
export function errorOf(fn: () => unknown): CniError | Promise<CniError> {
  let returned: unknown;
  try {
    returned = fn();
  } catch (e) {
    return asCniError(e);
  }
  if (isPromiseLike(returned)) {
    return Promise.resolve(returned).then((value) => {
      throw new Error(`expected a CniError, but the promise resolved to ${JSON.stringify(value)?.slice(0, 200)}`);
    }, asCniError);
  }
  throw new Error(`expected a CniError, but it returned ${JSON.stringify(returned)?.slice(0, 200)}`);
}

function asCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  throw new Error(`expected a CniError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
}

const isPromiseLike = (v: unknown): v is PromiseLike<unknown> =>
  (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
