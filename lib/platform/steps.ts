// How a plugin runs its steps, in one place:
//
// - ADD: `UndoStack` records the inverse of every step that took effect; `guard` runs them newest
//   first when ADD fails. Steps that do not depend on each other run concurrently through
//   `settleThenThrowFirst`, which waits for every one of them before it throws, so that the
//   rollback never races a step still running. The runtime gets the error that failed the ADD,
//   with any rollback that failed in turn named in its `details` (it may have left state behind).
// - DEL, GC and every-backend teardown: `settleThenThrowJoined` runs every step to its end past
//   failures (a cleanup that stops at the first failure leaks the rest), then throws one error
//   naming each failure.
import { CniError, ErrorCode } from '../cni/errors.ts';
import { warn } from './output.ts';

/** A rollback step that failed: what it was undoing, and why it failed. */
export interface RollbackFailure {
  what: string;
  error: unknown;
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class UndoStack {
  private readonly steps: Array<{ what: string; undo: () => Promise<unknown> }> = [];

  /** Register the inverse of a step; `what` names the step in messages ("veth pair"). */
  push(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  /** Run all inverses newest first, each whatever the others did. Returns the failures (also written to stderr). */
  async unwind(): Promise<RollbackFailure[]> {
    const failures: RollbackFailure[] = [];
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (error) {
        warn(`rollback of "${step.what}" failed: ${messageOf(error)}\n`);
        failures.push({ what: step.what, error });
      }
    }
    return failures;
  }

  /** Run `fn`; if it throws, unwind and rethrow, with the failed rollbacks in the error's details. */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw withRollbackFailures(e, await this.unwind());
    }
  }
}

/**
 * `error` with the rollback failures appended to its details ("rollback: veth pair: <msg>; IPAM
 * allocation: <msg>"); its code and msg stay. A failure that is not a CniError (a bug) becomes the
 * code-999 error the dispatcher would have reported for it, its stack still written to stderr.
 */
export function withRollbackFailures(error: unknown, failures: readonly RollbackFailure[]): unknown {
  if (!failures.length) return error;
  const note = `rollback: ${failures.map((f) => `${f.what}: ${messageOf(f.error)}`).join('; ')}`;
  if (error instanceof CniError) return new CniError(error.code, error.message, error.details ? `${error.details}; ${note}` : note);
  warn(`internal error: ${(error as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(error)}\n`);
  return new CniError(ErrorCode.Internal, messageOf(error).split('\n')[0]!.slice(0, 500), note);
}

/**
 * ADD's concurrent steps (already started; `false`/`undefined` stand for steps this config
 * skips): wait until every one has finished, then throw the first failure in list order as is.
 * Waiting for all is the point: the caller's rollback must not start while a step still runs.
 */
export async function settleThenThrowFirst(steps: ReadonlyArray<Promise<unknown> | false | undefined>): Promise<void> {
  await settledValues(steps.filter((s): s is Promise<unknown> => !!s));
}

/** settleThenThrowFirst for steps whose values the caller needs: every value, once all have finished. */
export async function settledValues<T>(steps: ReadonlyArray<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * A cleanup step: a bare function when its own errors say what failed, or [name, function] to
 * have its failures named ("IPAM: <msg>").
 */
export type CleanupStep = (() => Promise<unknown>) | readonly [name: string, run: () => Promise<unknown>];

/**
 * DEL / GC: start every step at once (independent cleanups; one that must follow another awaits
 * it), let each run to its end past the others' failures, then throw one error for all of them.
 * A single CniError failure is rethrown as is (code, msg, details). Otherwise one CniError lists
 * each failure as "<name>: <msg>" joined by "; ", after "<what>: " when given, with the first
 * failure's code (999 when the first failure is not a CniError).
 */
export async function settleThenThrowJoined(steps: readonly CleanupStep[], what?: string): Promise<void> {
  const named = steps.map((s) => (typeof s === 'function' ? ([undefined, s] as const) : s));
  const outcomes = await Promise.allSettled(named.map(([, run]) => started(run)));
  const failures: Array<{ name: string | undefined; error: unknown }> = [];
  outcomes.forEach((o, i) => {
    if (o.status === 'rejected') failures.push({ name: named[i]![0], error: o.reason });
  });
  if (!failures.length) return;
  const first = failures[0]!.error;
  if (failures.length === 1 && first instanceof CniError) throw first;
  const listed = failures.map((f) => (f.name === undefined ? messageOf(f.error) : `${f.name}: ${messageOf(f.error)}`)).join('; ');
  throw new CniError(first instanceof CniError ? first.code : ErrorCode.Internal, what === undefined ? listed : `${what}: ${listed}`);
}

/** `run()` as a promise, also when it throws before returning one, so no step can stop the others from starting. */
function started(run: () => Promise<unknown>): Promise<unknown> {
  try {
    return Promise.resolve(run());
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Resolves once every job already queued has run (one timer turn). DEL starts its firewall steps
 * first and removes the interface after this: in the standalone build a firewall teardown is
 * synchronous netlink work done within those jobs, and the kernel's RCU grace period before it
 * frees the deleted rules — which this process would otherwise wait for when it exits, as its
 * netlink socket closes — then passes during the veth deletion (tens of ms of kernel work itself).
 */
export const afterQueuedJobs = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
