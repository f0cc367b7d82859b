/**
 * §1 Runtime CPU: events/s through the worker core (`processBatch` on MemoryStore) against one live actor
 * per instance (the ceiling) and the naive per-event restore/save loop (the baseline), side by side.
 *
 * With `SETTLE_BENCH_CPU_BEFORE=<dir>` (a checkout of older code, e.g. a `git worktree` with this repository's
 * node_modules linked in), that checkout's worker core runs too, on its own MemoryStore and registry, in the
 * same rounds: the section then gives before/naive, now/naive and now/before, each a median of per-round ratios.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { MemoryDeadLetterQueue } from '../../runtime/memory/memory-queues.ts';
import { MemoryStore } from '../../runtime/memory/memory-store.ts';
import { defaults } from '../../runtime/core/config.ts';
import { processBatch, type WorkerCore } from '../../runtime/core/process-batch.ts';
import type { MachineRegistry } from '../../runtime/core/registry.ts';
import { WarmSessions } from '../../runtime/core/warm-sessions.ts';
import { registry } from '../../machines/index.ts';
import { LiveActors, NaiveRuntime, runBatches, type FinalState } from '../baselines.ts';
import { type Contender, interleavedRounds, median } from '../harness.ts';
import type { BenchSizes } from '../options.ts';
import { formatNumber, type Figure, type Section } from '../report.ts';
import {
  countEvents,
  exampleMachines,
  instance,
  plan,
  shapeOf,
  steppingClock,
  streams,
  toRecords,
  type Instance,
  type PlannedBatch,
  type Shape,
} from '../workloads.ts';

export const cpuShapes = [shapeOf(1, 1), shapeOf(10, 1), shapeOf(1, 10)];

/** Generous: nothing in these machines waits on anything but promises that resolve at once. */
const settleBudgetMs = () => 10_000;

/**
 * The worker core as the Lambda handler builds it (warm sessions kept between batches, `createWorkerHandler`'s
 * defaults), or with `warm: false` restoring every instance on every batch, as a cold worker does.
 */
export function workerCore(
  reg: MachineRegistry,
  { warm = true }: { warm?: boolean } = {},
): WorkerCore & { store: MemoryStore; deadLetters: MemoryDeadLetterQueue } {
  return {
    registry: reg,
    store: new MemoryStore(),
    deadLetters: new MemoryDeadLetterQueue(),
    now: steppingClock(),
    maxReceiveCount: 5,
    wakeShards: 8,
    warm: warm ? new WarmSessions({ maxInstances: defaults.warmInstances, maxSnapshotBytes: defaults.warmSnapshotBytes }) : undefined,
    // The Lambda handler always listens (it logs each applied event): so does the benchmark.
    onApplied: () => undefined,
  };
}

/** A worker core from another checkout: its `processBatch`, `MemoryStore`, dead-letter queue and registry. */
export interface OtherCore {
  readonly dir: string;
  readonly processBatch: typeof processBatch;
  readonly core: () => WorkerCore & { deadLetters: { letters: readonly unknown[] } };
}

export async function loadOtherCore(dir: string): Promise<OtherCore> {
  const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(resolve(dir, path)).href)) as T;
  const [batch, memoryStore, queues, machines] = await Promise.all([
    load<{ processBatch: typeof processBatch }>('runtime/core/process-batch.ts'),
    load<{ MemoryStore: typeof MemoryStore }>('runtime/memory/memory-store.ts'),
    load<{ MemoryDeadLetterQueue: typeof MemoryDeadLetterQueue }>('runtime/memory/memory-queues.ts'),
    load<{ registry: MachineRegistry }>('machines/index.ts'),
  ]);
  return {
    dir,
    processBatch: batch.processBatch,
    core: () => ({
      ...workerCore(machines.registry),
      store: new memoryStore.MemoryStore(),
      deadLetters: new queues.MemoryDeadLetterQueue(),
    }),
  };
}

/** The worker core on a batch plan: returns the core (for its store) and the count of records handed back. */
export async function runWorker(
  core: WorkerCore,
  records: readonly import('aws-lambda').SQSRecord[][],
  process: typeof processBatch = processBatch,
): Promise<number> {
  let retried = 0;
  for (const batch of records) retried += (await process(batch, core, settleBudgetMs)).batchItemFailures.length;
  return retried;
}

/**
 * The worker core as a contender: this tree's as deployed (`worker`), restoring every batch as a cold worker does
 * (`cold`), keeping 5 history entries instead of 20 (`history 5`), or another checkout's (`before`).
 */
export function workerContender(
  batches: readonly PlannedBatch[],
  variant: { readonly other?: OtherCore; readonly name?: string; readonly warm?: boolean; readonly historyLimit?: number } = {},
): Contender {
  const { other, warm, historyLimit } = variant;
  const records = toRecords(batches);
  const events = countEvents(batches);
  return {
    name: variant.name ?? (other ? 'before' : 'worker'),
    prepare: async () => {
      const core = other ? other.core() : { ...workerCore(registry, { warm }), historyLimit };
      let retried = 0;
      return {
        run: async () => {
          retried = await runWorker(core, records, other?.processBatch);
          return events;
        },
        check: () => {
          if (retried > 0 || core.deadLetters.letters.length > 0) {
            throw new Error(
              `The worker retried ${retried} and dead-lettered ${core.deadLetters.letters.length} records of a clean stream.`,
            );
          }
        },
      };
    },
  };
}

function liveContender(batches: readonly PlannedBatch[]): Contender {
  const events = countEvents(batches);
  return {
    name: 'live',
    prepare: async () => {
      const live = new LiveActors(registry);
      return {
        run: async () => {
          await runBatches(batches, (p) => live.apply(p));
          return events;
        },
        check: () => live.stop(),
      };
    },
  };
}

export function naiveContender(batches: readonly PlannedBatch[]): Contender {
  const events = countEvents(batches);
  return {
    name: 'naive',
    prepare: async () => {
      const naive = new NaiveRuntime(registry, new MemoryStore());
      return {
        run: async () => {
          await runBatches(batches, (p) => naive.apply(p));
          return events;
        },
      };
    },
  };
}

/** Runs the plan once through each contender and compares end states with the live actor's. */
async function agreement(instances: readonly Instance[], batches: readonly PlannedBatch[]): Promise<{ worker: boolean; naive: boolean }> {
  const core = workerCore(registry);
  await runWorker(core, toRecords(batches));
  const workerStates = new Map<string, FinalState>(
    core.store.all().map((record) => [record.pk, { value: record.snapshot.value, context: record.snapshot.context }]),
  );
  const live = new LiveActors(registry);
  await runBatches(batches, (p) => live.apply(p));
  const liveStates = live.finalStates();
  live.stop();
  const naive = new NaiveRuntime(registry, new MemoryStore());
  await runBatches(batches, (p) => naive.apply(p));
  const naiveStates = await naive.finalStates(instances.map((i) => i.key));
  // Compared as stored: through JSON (undefined fields dropped, key order ignored).
  const plain = (state: FinalState | undefined) => (state === undefined ? undefined : (JSON.parse(JSON.stringify(state)) as unknown));
  const same = (states: Map<string, FinalState>) =>
    instances.every((i) => isDeepStrictEqual(plain(states.get(i.key)), plain(liveStates.get(i.key))));
  return { worker: same(workerStates), naive: same(naiveStates) };
}

/** The median of the per-round ratios a/b: each round's contenders ran back to back, so load hits both alike. */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((value, round) => value / (b[round] ?? Number.NaN)));
}

/** Issue 16's goals: ≥ 0.85 × naive with one record per group, ≥ 1.5 × with ten. */
function goalFor(shape: Shape, ratio: number): Figure['goal'] {
  const at = shape.recordsPerGroup > 1 ? 1.5 : 0.85;
  return { text: `≥ ${at} × naive`, met: ratio >= at };
}

export async function cpuSection(sizes: BenchSizes['cpu']): Promise<Section> {
  const started = performance.now();
  const figures: Figure[] = [];
  const disagreements: string[] = [];
  const beforeDir = process.env.SETTLE_BENCH_CPU_BEFORE;
  const before = beforeDir ? await loadOtherCore(beforeDir) : undefined;
  for (const machine of exampleMachines) {
    const instances = Array.from({ length: sizes.instances }, (_, i) => instance(machine, `cpu-${i}`, streams[machine]));
    const check = await agreement(instances, plan(instances, sizes.eventsPerInstance, shapeOf(10, 1)));
    if (!check.worker) disagreements.push(`${machine}: the worker's end states differ from the live actor's`);
    if (!check.naive) disagreements.push(`${machine}: the naive baseline's end states differ from the live actor's`);
    for (const shape of cpuShapes) {
      const batches = plan(instances, sizes.eventsPerInstance, shape);
      const contenders = [
        workerContender(batches),
        workerContender(batches, { name: 'cold', warm: false }),
        workerContender(batches, { name: 'history 5', historyLimit: 5 }),
        ...(before ? [workerContender(batches, { other: before })] : []),
        liveContender(batches),
        naiveContender(batches),
      ];
      const rates = await interleavedRounds(contenders, sizes);
      const worker = rates.get('worker');
      const cold = rates.get('cold');
      const shortHistory = rates.get('history 5');
      const live = rates.get('live');
      const naive = rates.get('naive');
      const old = rates.get('before');
      if (!worker || !cold || !shortHistory || !live || !naive || (before && !old)) throw new Error('a contender produced no figures');
      const label = `${machine} · ${shape.name}`;
      const unit = 'events/CPU-s';
      const vsNaive = pairedRatio(worker.cpu, naive.cpu);
      figures.push({
        name: `${label} · worker vs naive`,
        value: median(worker.cpu),
        unit,
        baseline: { name: 'naive', value: median(naive.cpu) },
        ratio: median(worker.cpu) / median(naive.cpu),
        goal: goalFor(shape, vsNaive),
        note:
          `paired ${formatNumber(vsNaive)}×; live actor ${formatNumber(median(live.cpu))}/CPU-s (worker ${formatNumber(pairedRatio(worker.cpu, live.cpu))}× it); ` +
          `worker ${formatNumber(1e6 / median(worker.cpu))} CPU-µs/event, rounds ${formatNumber(Math.min(...worker.cpu))}–${formatNumber(Math.max(...worker.cpu))}/s; ` +
          `wall-clock: worker ${formatNumber(median(worker.wall))}/s, naive ${formatNumber(median(naive.wall))}/s` +
          (old ? `, before ${formatNumber(median(old.wall))}/s` : ''),
      });
      for (const [variant, rate, what] of [
        ['cold worker', cold, 'the worker restoring every instance on every batch (a cold Lambda, or SETTLE_WARM_INSTANCES=0)'],
        ['history 5', shortHistory, 'what-if: the worker keeping 5 history entries (SETTLE_HISTORY_LIMIT=5) instead of 20'],
      ] as const) {
        figures.push({
          name: `${label} · ${variant} vs naive`,
          value: median(rate.cpu),
          unit,
          baseline: { name: 'naive', value: median(naive.cpu) },
          ratio: median(rate.cpu) / median(naive.cpu),
          note: `paired ${formatNumber(pairedRatio(rate.cpu, naive.cpu))}×; ${what}, ${formatNumber(1e6 / median(rate.cpu))} CPU-µs/event`,
        });
      }
      if (old) {
        const beforeVsNaive = pairedRatio(old.cpu, naive.cpu);
        figures.push(
          {
            name: `${label} · before vs naive`,
            value: median(old.cpu),
            unit,
            baseline: { name: 'naive', value: median(naive.cpu) },
            ratio: median(old.cpu) / median(naive.cpu),
            note: `paired ${formatNumber(beforeVsNaive)}×; the worker core before issue 16, ${formatNumber(1e6 / median(old.cpu))} CPU-µs/event`,
          },
          {
            name: `${label} · now vs before`,
            value: median(worker.cpu),
            unit,
            baseline: { name: 'before', value: median(old.cpu) },
            ratio: median(worker.cpu) / median(old.cpu),
            note: `paired ${formatNumber(pairedRatio(worker.cpu, old.cpu))}×`,
          },
        );
      }
    }
  }
  return {
    id: 'cpu',
    title: '1. Runtime CPU (worker core on MemoryStore vs live actor vs naive)',
    figures,
    notes: [
      "Rates are events per second of this process's CPU time (user + system, all threads, so GC helper threads count): the box is shared and wall time also counts the time other processes held the cores. Wall-clock medians are in the notes.",
      `Each round: ${sizes.instances} instances × ${sizes.eventsPerInstance} events per machine, fresh store; ${sizes.warmup} warm-up + ${sizes.rounds} measured rounds, contenders interleaved and rotated; GC forced between rounds. Values are medians of the rounds and the ratio column their ratio; "paired" is the median of the per-round ratios (the two contenders ran back to back in each round), and decides the goal.`,
      ...(before
        ? [
            `"before" is the worker core of the checkout in SETTLE_BENCH_CPU_BEFORE (its own processBatch, MemoryStore and registry), run in the same rounds: \`git worktree add /tmp/settle-base d24b9d0 && ln -s "$PWD/node_modules" /tmp/settle-base/node_modules && SETTLE_BENCH_CPU_BEFORE=/tmp/settle-base npm run bench -- --only cpu --docs\`.`,
          ]
        : []),
      'Batches run one after another; in a batch the groups run concurrently and the records of a group in order (every contender). The worker core is given an onApplied listener, as the Lambda handler does.',
      'The worker runs as createWorkerHandler builds it: warm sessions kept between batches (core/warm-sessions.ts), so after an instance\'s first batch its item is still read and written but its actor is not restored; "cold worker" restores every batch, as a cold Lambda or a group that another worker saved last does.',
      'Live actor: one actor per instance for the whole run, settled by the same per-region rule as the worker; never restores or saves. Naive: per event read → createActor(snapshot) → start → send → waitFor(hasTag resolve/reject or done) → getPersistedSnapshot → JSON.stringify → conditional write, on the same MemoryStore.',
      'The naive waitFor uses hasTag, a union over regions: for approval it returns while the finance budget check is still running (it does less work than a correct runtime, and persists an unsettled snapshot).',
      "MemoryStore encodes each item as DynamoStore does (the snapshot as a JSON string, gzipped above 4 KB, the item size rule) and keeps it as JSON, parsed on read; the naive item is a small record holding the snapshot's JSON string, the worker's the whole instance record (20 history entries, timers, list-index fields).",
      disagreements.length === 0
        ? 'Check: after the same stream, the worker and the naive baseline end in the same state value and context as the live actors, for every instance.'
        : `Check FAILED: ${disagreements.join('; ')}.`,
    ],
    durationMs: performance.now() - started,
  };
}
