// Rollback as data: every applied step registers its inverse; on failure the inverses run in
// reverse order, best effort, and the original error is what the caller reports.
import { warn } from './output.ts';

export class UndoStack {
  private readonly steps: Array<{ what: string; undo: () => Promise<unknown> }> = [];

  push(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  /** Run all inverses newest first; failures are logged to stderr, never thrown. */
  async unwind(): Promise<void> {
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (e) {
        warn(`rollback of "${step.what}" failed: ${(e as Error).message}\n`);
      }
    }
  }

  /** Run `fn`; if it throws, unwind and rethrow. */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      await this.unwind();
      throw e;
    }
  }
}

/**
 * Run independent steps concurrently (process spawns overlap on a multi-core node) and wait for
 * all of them, so that a rollback never races a step still running; the first failure is thrown.
 */
export async function allSteps(steps: Array<Promise<unknown> | false | undefined>): Promise<void> {
  const results = await Promise.allSettled(steps.filter((s): s is Promise<unknown> => !!s));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
