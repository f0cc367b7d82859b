/**
 * Polls `check` until it returns a truthy value, and returns that value. Fails after `timeoutMs`
 * with `description` and the last value or error, so a test never waits on a fixed sleep.
 *
 * @example
 * const item = await waitFor(() => getItem('counter/c1'), { description: 'counter/c1 saved' });
 */
export interface WaitForOptions {
  /** @default 5000 */
  readonly timeoutMs?: number;
  /** @default 25 */
  readonly intervalMs?: number;
  /** What is awaited, for the failure message. */
  readonly description?: string;
}

export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

export async function waitFor<T>(check: () => T | Promise<T>, options: WaitForOptions = {}): Promise<Truthy<T>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? `${last.name}: ${last.message}` : JSON.stringify(last);
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${options.description ?? 'a condition'}; last result: ${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}

/** A promise with its resolve exposed, to hold a handler until the test lets it go. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
