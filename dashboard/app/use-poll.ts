/**
 * Live data: loads at once, then again `intervalMs` after each answer (never two requests at once), while the
 * page is visible. A failed load keeps the last data and shows the error until a load succeeds.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.ts';

/** How often every view refreshes what it shows. */
export const pollIntervalMs = 2000;

export interface Polled<T> {
  readonly data: T | undefined;
  readonly error: ApiError | undefined;
  /** Loads again now (after a change the user made). */
  readonly refresh: () => void;
}

export interface PollOptions {
  /** @default pollIntervalMs */
  readonly intervalMs?: number;
  /** While it returns true, the refresh waits. */
  readonly holdWhile?: () => boolean;
}

export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, key: string, options: PollOptions = {}): Polled<T> {
  const intervalMs = options.intervalMs ?? pollIntervalMs;
  const holdWhile = useRef(options.holdWhile);
  holdWhile.current = options.holdWhile;
  const [state, setState] = useState<{ key: string; data: T | undefined; error: ApiError | undefined }>({
    key,
    data: undefined,
    error: undefined,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const kick = useRef<() => void>(() => undefined);

  useEffect(() => {
    let timer: number | undefined;
    let controller: AbortController | undefined;
    let stopped = false;
    const run = async () => {
      window.clearTimeout(timer);
      controller?.abort();
      const mine = new AbortController();
      controller = mine;
      try {
        const data = await loadRef.current(mine.signal);
        if (!mine.signal.aborted) setState({ key, data, error: undefined });
      } catch (error) {
        if (mine.signal.aborted) return;
        const failure = error instanceof ApiError ? error : new ApiError(0, 'error', (error as Error).message);
        setState((previous) => ({ key, data: previous.key === key ? previous.data : undefined, error: failure }));
      }
      if (!stopped && controller === mine) timer = window.setTimeout(tick, intervalMs);
    };
    const tick = () => {
      if (document.hidden || holdWhile.current?.()) timer = window.setTimeout(tick, intervalMs);
      else void run();
    };
    const onVisible = () => {
      if (!document.hidden) void run();
    };
    kick.current = () => void run();
    document.addEventListener('visibilitychange', onVisible);
    void run();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      controller?.abort();
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [key, intervalMs]);

  const refresh = useCallback(() => kick.current(), []);
  // Data of another key (the route changed, the effect has not run yet) is not shown.
  return state.key === key ? { data: state.data, error: state.error, refresh } : { data: undefined, error: undefined, refresh };
}

/** Re-renders every `intervalMs`, for "3 min ago" texts. Returns the current time. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return now;
}
