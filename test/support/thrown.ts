import { PermanentError } from '../../runtime/core/errors.ts';

/** The PermanentError `fn` throws (vitest's toThrow(text) also passes when `undefined` is thrown). */
export function thrownBy(fn: () => unknown): PermanentError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  if (!(thrown instanceof PermanentError)) throw new Error(`expected a PermanentError, got ${String(thrown)}`);
  return thrown;
}
