/**
 * A small benchmark harness: warm-up rounds, measured rounds, medians. Contenders measured against
 * each other run interleaved, their order rotated every round, so drift (JIT, GC, a noisy neighbour)
 * hits all of them alike.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** One timed round, returned by a contender's `prepare()`: does the work, returns how many items it handled. */
export type TimedRun = () => Promise<number>;

export interface Contender {
  readonly name: string;
  /** Untimed set-up (fresh store, records built); returns the timed part, and an optional check after it. */
  prepare(round: number): Promise<{ run: TimedRun; check?: () => void | Promise<void> }>;
}

export interface RateStats {
  /** Items per second of the chosen clock, median over the measured rounds. */
  readonly median: number;
  /** Items per wall-clock second, median (equal to `median` when the clock is 'wall'). */
  readonly wallMedian: number;
  readonly min: number;
  readonly max: number;
  readonly rounds: number;
  /** Items per round. */
  readonly items: number;
}

export interface RoundOptions {
  readonly warmup: number;
  readonly rounds: number;
  /**
   * 'cpu': rates per second of this process's CPU time (user + system, all threads). On a shared box under
   * load it is far steadier than wall time, which also counts the time other processes held the cores.
   * @default 'wall'
   */
  readonly clock?: 'cpu' | 'wall';
}

/** Each contender's per-round rates, and the items one round handles. */
export interface RoundSamples {
  /** Items per second of this process's CPU time (user + system), one per measured round. */
  readonly cpu: number[];
  /** Items per wall-clock second, one per measured round. */
  readonly wall: number[];
  items: number;
}

/**
 * Runs every contender `warmup + rounds` times, interleaved and rotated every round, and returns each one's
 * per-round rates: round r of every contender ran back to back, so paired ratios see the same load.
 */
export async function interleavedRounds(
  contenders: readonly Contender[],
  options: { readonly warmup: number; readonly rounds: number },
): Promise<Map<string, RoundSamples>> {
  const samples = new Map<string, RoundSamples>(contenders.map((c) => [c.name, { cpu: [], wall: [], items: 0 }]));
  for (let round = 0; round < options.warmup + options.rounds; round += 1) {
    for (const contender of rotate(contenders, round)) {
      const { run, check } = await contender.prepare(round);
      collectGarbage();
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const handled = await run();
      const elapsed = performance.now() - started;
      const cpu = process.cpuUsage(cpuBefore);
      await check?.();
      const own = samples.get(contender.name);
      if (!own) continue;
      own.items = handled;
      if (round < options.warmup) continue;
      own.cpu.push((handled / ((cpu.user + cpu.system) / 1000)) * 1000);
      own.wall.push((handled / elapsed) * 1000);
    }
  }
  return samples;
}

/** Runs every contender `warmup + rounds` times, interleaved, and returns items/s per contender. */
export async function compare(contenders: readonly Contender[], options: RoundOptions): Promise<Map<string, RateStats>> {
  const samples = await interleavedRounds(contenders, options);
  return new Map(
    contenders.map((c) => {
      const own = samples.get(c.name) ?? { cpu: [], wall: [], items: 0 };
      const rates = options.clock === 'cpu' ? own.cpu : own.wall;
      return [
        c.name,
        {
          median: median(rates),
          wallMedian: median(own.wall),
          min: Math.min(...rates),
          max: Math.max(...rates),
          rounds: rates.length,
          items: own.items,
        },
      ];
    }),
  );
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = by % Math.max(1, items.length);
  return [...items.slice(shift), ...items.slice(0, shift)];
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

let gc: (() => void) | undefined;

/** A full GC between rounds (so a round does not pay for the previous one's garbage). No-op if unavailable. */
export function collectGarbage(): void {
  if (!gc) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      gc = () => undefined;
    }
  }
  gc();
}

export interface MemorySample {
  readonly heapUsedMb: number;
  readonly rssMb: number;
  /** Memory of C++ objects bound to JS ones (Buffers among them): outside the heap, inside RSS. */
  readonly externalMb: number;
}

export function memory(): MemorySample {
  const { heapUsed, rss, external } = process.memoryUsage();
  return { heapUsedMb: heapUsed / 2 ** 20, rssMb: rss / 2 ** 20, externalMb: external / 2 ** 20 };
}

/** Samples heap use every `everyMs` (between tasks) while `work` runs; returns the peak and the work's result. */
export async function withPeakHeap<T>(work: () => Promise<T>, everyMs = 5): Promise<{ result: T; peakHeapMb: number }> {
  let peak = process.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, everyMs);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    return { result, peakHeapMb: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

/** A seeded PRNG, so every run and every contender sees the same "random" choices. */
export { seededRandom } from '../testing/random.ts';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
