// lib/platform/steps.ts: the rollback stack and the two ways of running several steps at once.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import { settleThenThrowFirst, settleThenThrowJoined, UndoStack, withRollbackFailures } from '../../lib/platform/steps.ts';
import { errorOf } from '../helpers/cni-error.ts';

// Diagnostics go through lib/platform/output.ts's warn (synchronous writes to fd 2).
const stderr = vi.hoisted(() => ({ lines: [] as string[] }));
vi.mock('../../lib/platform/output.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../lib/platform/output.ts')>();
  return { ...real, warn: (line: string) => void stderr.lines.push(line) };
});
beforeEach(() => {
  stderr.lines.length = 0;
});

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));
const failWith = (code: number, msg: string, details?: string) => () => Promise.reject(new CniError(code, msg, details));

describe('UndoStack', () => {
  it('unwinds newest first, runs every inverse past failures, and returns the failures in that order', async () => {
    const ran: string[] = [];
    const undo = new UndoStack();
    undo.push('IPAM allocation', async () => void ran.push('IPAM allocation'));
    undo.push('veth pair', async () => {
      ran.push('veth pair');
      throw new Error('link busy');
    });
    undo.push('masquerade', async () => {
      ran.push('masquerade');
      throw new CniError(ErrorCode.FirewallFailed, 'nft: table gone');
    });
    const failures = await undo.unwind();
    expect(ran).toEqual(['masquerade', 'veth pair', 'IPAM allocation']);
    expect(failures.map((f) => [f.what, (f.error as Error).message])).toEqual([
      ['masquerade', 'nft: table gone'],
      ['veth pair', 'link busy'],
    ]);
    expect(stderr.lines).toEqual(['rollback of "masquerade" failed: nft: table gone\n', 'rollback of "veth pair" failed: link busy\n']);
  });

  it('unwinds each inverse once: a second unwind has nothing left to do', async () => {
    let runs = 0;
    const undo = new UndoStack();
    undo.push('x', async () => void runs++);
    expect(await undo.unwind()).toEqual([]);
    expect(await undo.unwind()).toEqual([]);
    expect(runs).toBe(1);
  });

  it('guard returns the result and undoes nothing when the work succeeds', async () => {
    const undo = new UndoStack();
    let undone = false;
    const result = await undo.guard(async () => {
      undo.push('x', async () => void (undone = true));
      return 42;
    });
    expect(result).toBe(42);
    expect(undone).toBe(false);
  });

  it('guard rethrows the failure unchanged when the rollback succeeds', async () => {
    const undo = new UndoStack();
    const original = new CniError(ErrorCode.KernelCommandFailed, 'route add failed', 'RTNETLINK answers: Network is unreachable');
    const ran: string[] = [];
    const e = await errorOf(() =>
      undo.guard(async () => {
        undo.push('IPAM allocation', async () => void ran.push('IPAM'));
        undo.push('veth pair', async () => void ran.push('veth'));
        throw original;
      }),
    );
    expect(e).toBe(original);
    expect(ran).toEqual(['veth', 'IPAM']);
  });

  it('guard keeps the code and msg and appends the failed rollbacks to the details', async () => {
    const undo = new UndoStack();
    const e = await errorOf(() =>
      undo.guard(async () => {
        undo.push('IPAM allocation', failWith(ErrorCode.DelegateFailed, 'host-local: lock timeout'));
        undo.push('veth pair', () => Promise.reject(new Error('Device or resource busy')));
        throw new CniError(ErrorCode.KernelCommandFailed, 'route add failed', 'RTNETLINK answers: Network is unreachable');
      }),
    );
    expect(e.code).toBe(ErrorCode.KernelCommandFailed);
    expect(e.message).toBe('route add failed');
    expect(e.details).toBe(
      'RTNETLINK answers: Network is unreachable; rollback: veth pair: Device or resource busy; IPAM allocation: host-local: lock timeout',
    );
  });

  it('guard turns a failure that is not a CniError into code 999 when it must carry failed rollbacks', async () => {
    const undo = new UndoStack();
    const e = await errorOf(() =>
      undo.guard(async () => {
        undo.push('veth pair', () => Promise.reject(new Error('busy')));
        throw new TypeError('cannot read x of undefined\nsecond line');
      }),
    );
    expect(e.code).toBe(ErrorCode.Internal);
    expect(e.message).toBe('cannot read x of undefined');
    expect(e.details).toBe('rollback: veth pair: busy');
    expect(stderr.lines.some((l) => l.startsWith('internal error: TypeError: cannot read x of undefined'))).toBe(true);
  });

  it('withRollbackFailures with no failures is the error itself', () => {
    const e = new Error('x');
    expect(withRollbackFailures(e, [])).toBe(e);
  });
});

describe('settleThenThrowFirst (ADD)', () => {
  it('resolves when every step succeeds, skipping the steps a config leaves out', async () => {
    const done: number[] = [];
    await settleThenThrowFirst([tick().then(() => done.push(1)), false, undefined, Promise.resolve().then(() => done.push(2))]);
    expect(done.sort()).toEqual([1, 2]);
  });

  it('waits for every step before it throws, so a rollback never races a step still running', async () => {
    const events: string[] = [];
    const slow = (async () => {
      await tick();
      await tick();
      events.push('slow step finished');
    })();
    const failing = Promise.reject(new CniError(ErrorCode.KernelCommandFailed, 'veth failed'));
    const undo = new UndoStack();
    undo.push('veth pair', async () => void events.push('rollback'));
    const e = await errorOf(() => undo.guard(() => settleThenThrowFirst([failing, slow])));
    expect(e.message).toBe('veth failed');
    expect(events).toEqual(['slow step finished', 'rollback']);
  });

  it('throws the first failure in list order as is, whichever failed first in time', async () => {
    const late = new CniError(ErrorCode.FirewallFailed, 'late but first in the list');
    const early = new CniError(ErrorCode.KernelCommandFailed, 'early');
    const e = await errorOf(() => settleThenThrowFirst([tick().then(() => Promise.reject(late)), Promise.reject(early)]));
    expect(e).toBe(late);
  });
});

describe('settleThenThrowJoined (DEL, GC)', () => {
  it('starts every step at once, in list order, and resolves when all succeed', async () => {
    const started: string[] = [];
    const finished: string[] = [];
    const step = (name: string) => async () => {
      started.push(name);
      await tick();
      finished.push(name);
    };
    const run = settleThenThrowJoined([['a', step('a')], step('b'), ['c', step('c')]]);
    expect(started).toEqual(['a', 'b', 'c']); // all started before any finished
    expect(finished).toEqual([]);
    await run;
    expect(finished.sort()).toEqual(['a', 'b', 'c']);
  });

  it('runs every step to its end past failures, also one that throws before returning a promise', async () => {
    const finished: string[] = [];
    const e = await errorOf(() =>
      settleThenThrowJoined([
        [
          'sync',
          () => {
            throw new CniError(ErrorCode.InvalidConfig, 'thrown at once');
          },
        ],
        ['IPAM', failWith(ErrorCode.DelegateFailed, 'host-local failed')],
        [
          'masquerade',
          async () => {
            await tick();
            finished.push('masquerade');
          },
        ],
      ]),
    );
    expect(finished).toEqual(['masquerade']);
    expect(e.message).toBe('sync: thrown at once; IPAM: host-local failed');
  });

  it('one CniError failure is rethrown as is: code, msg and details', async () => {
    const only = new CniError(ErrorCode.KernelCommandFailed, 'link del failed', 'EBUSY');
    const e = await errorOf(() =>
      settleThenThrowJoined([
        ['container interface', () => Promise.reject(only)],
        ['IPAM', async () => undefined],
      ]),
    );
    expect(e).toBe(only);
  });

  it('one failure that is not a CniError becomes code 999 naming its step', async () => {
    const e = await errorOf(() => settleThenThrowJoined([['IPAM', () => Promise.reject(new Error('boom'))]]));
    expect([e.code, e.message]).toEqual([ErrorCode.Internal, 'IPAM: boom']);
  });

  it('several failures become one error naming each, in list order, with the first failure’s code', async () => {
    const e = await errorOf(() =>
      settleThenThrowJoined([
        ['container interface', async () => undefined],
        [
          'IPAM',
          async () => {
            await tick();
            throw new CniError(ErrorCode.DelegateFailed, 'host-local: lock timeout');
          },
        ],
        ['masquerade', failWith(ErrorCode.FirewallFailed, 'nft: table busy')],
      ]),
    );
    expect(e.code).toBe(ErrorCode.DelegateFailed);
    expect(e.message).toBe('IPAM: host-local: lock timeout; masquerade: nft: table busy');
  });

  it('the joined code is 999 when the first failure is not a CniError', async () => {
    const e = await errorOf(() =>
      settleThenThrowJoined([
        ['a', () => Promise.reject(new Error('bug'))],
        ['b', failWith(ErrorCode.FirewallFailed, 'nft')],
      ]),
    );
    expect([e.code, e.message]).toEqual([ErrorCode.Internal, 'a: bug; b: nft']);
  });

  it('unnamed steps contribute their message alone, after the given prefix', async () => {
    const e = await errorOf(() =>
      settleThenThrowJoined(
        [failWith(ErrorCode.FirewallFailed, 'ipt failed'), failWith(ErrorCode.FirewallFailed, 'nft failed')],
        'x teardown',
      ),
    );
    expect([e.code, e.message]).toEqual([ErrorCode.FirewallFailed, 'x teardown: ipt failed; nft failed']);
  });
});
