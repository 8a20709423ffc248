/**
 * Calls into the embedding program's code (hooks, local subscribers) that cannot take the
 * broker down (`self` is the hook's `this`, so class-based hooks keep working): a throw or a rejected promise is logged and becomes a refusal (a check) or
 * a `false` the caller acts on (an observer), never an uncaught exception.
 */
import type { Logger } from '../log/Logger';

function report(log: Logger, what: string, err: unknown): void {
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  log.error(`${what} threw: ${text}`);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** A yes/no hook; a throw means no. */
export function guardedCheck<S, A, B>(log: Logger, what: string, self: S, hook: (this: S, a: A, b: B) => boolean, a: A, b: B): boolean {
  try {
    return hook.call(self, a, b) === true;
  } catch (err) {
    report(log, what, err);
    return false;
  }
}

/** An awaited hook; a throw or rejection becomes `failed`. */
export async function guardedAsync<S, T, A>(log: Logger, what: string, self: S, hook: (this: S, a: A) => T | Promise<T>, a: A, failed: T): Promise<T> {
  try {
    return await hook.call(self, a);
  } catch (err) {
    report(log, what, err);
    return failed;
  }
}

/**
 * An observer (its result is not used); false when it threw at once. A promise it returns
 * is not waited for, but its rejection is logged instead of ending the process.
 */
export function guardedNotify<S, A, B>(log: Logger, what: string, self: S, hook: (this: S, a: A, b: B) => unknown, a: A, b: B): boolean {
  try {
    const result = hook.call(self, a, b);
    if (isThenable(result)) result.then(undefined, (err: unknown) => report(log, what, err));
    return true;
  } catch (err) {
    report(log, what, err);
    return false;
  }
}
