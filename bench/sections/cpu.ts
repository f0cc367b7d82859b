/**
 * §1 Runtime CPU: events/s through the worker core (`processBatch` on MemoryStore) against one live actor
 * per instance (the ceiling) and the naive per-event restore/save loop (the baseline), side by side.
 */
import { isDeepStrictEqual } from 'node:util';
import { MemoryDeadLetterQueue } from '../../runtime/memory/memory-queues.ts';
import { MemoryStore } from '../../runtime/memory/memory-store.ts';
import { processBatch, type WorkerCore } from '../../runtime/core/process-batch.ts';
import type { MachineRegistry } from '../../runtime/core/registry.ts';
import { registry } from '../../machines/index.ts';
import { LiveActors, NaiveRuntime, runBatches, type FinalState } from '../baselines.ts';
import { compare, type Contender } from '../harness.ts';
import type { BenchSizes } from '../options.ts';
import { compared, formatNumber, type Figure, type Section } from '../report.ts';
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
} from '../workloads.ts';

export const cpuShapes = [shapeOf(1, 1), shapeOf(10, 1), shapeOf(1, 10)];

/** Generous: nothing in these machines waits on anything but promises that resolve at once. */
const settleBudgetMs = () => 10_000;

export function workerCore(reg: MachineRegistry): WorkerCore & { store: MemoryStore; deadLetters: MemoryDeadLetterQueue } {
  return {
    registry: reg,
    store: new MemoryStore(),
    deadLetters: new MemoryDeadLetterQueue(),
    now: steppingClock(),
    maxReceiveCount: 5,
    wakeShards: 8,
  };
}

/** The worker core on a batch plan: returns the core (for its store) and the count of records handed back. */
export async function runWorker(core: WorkerCore, records: readonly import('aws-lambda').SQSRecord[][]): Promise<number> {
  let retried = 0;
  for (const batch of records) retried += (await processBatch(batch, core, settleBudgetMs)).batchItemFailures.length;
  return retried;
}

function workerContender(batches: readonly PlannedBatch[]): Contender {
  const records = toRecords(batches);
  const events = countEvents(batches);
  return {
    name: 'worker',
    prepare: async () => {
      const core = workerCore(registry);
      let retried = 0;
      return {
        run: async () => {
          retried = await runWorker(core, records);
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

function naiveContender(batches: readonly PlannedBatch[]): Contender {
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

export async function cpuSection(sizes: BenchSizes['cpu']): Promise<Section> {
  const started = performance.now();
  const figures: Figure[] = [];
  const disagreements: string[] = [];
  for (const machine of exampleMachines) {
    const instances = Array.from({ length: sizes.instances }, (_, i) => instance(machine, `cpu-${i}`, streams[machine]));
    const check = await agreement(instances, plan(instances, sizes.eventsPerInstance, shapeOf(10, 1)));
    if (!check.worker) disagreements.push(`${machine}: the worker's end states differ from the live actor's`);
    if (!check.naive) disagreements.push(`${machine}: the naive baseline's end states differ from the live actor's`);
    for (const shape of cpuShapes) {
      const batches = plan(instances, sizes.eventsPerInstance, shape);
      const stats = await compare([workerContender(batches), liveContender(batches), naiveContender(batches)], { ...sizes, clock: 'cpu' });
      const worker = stats.get('worker');
      const live = stats.get('live');
      const naive = stats.get('naive');
      if (!worker || !live || !naive) throw new Error('a contender produced no figures');
      const spread =
        `worker ${formatNumber(1e6 / worker.median)} CPU-µs/event, rounds ${formatNumber(worker.min)}–${formatNumber(worker.max)}/s; ` +
        `wall-clock: worker ${formatNumber(worker.wallMedian)}/s, live ${formatNumber(live.wallMedian)}/s, naive ${formatNumber(naive.wallMedian)}/s`;
      const vsLive = worker.median / live.median;
      const vsNaive = worker.median / naive.median;
      figures.push(
        compared(
          `${machine} · ${shape.name} · worker vs live actor`,
          worker.median,
          'events/CPU-s',
          { name: 'live actor', value: live.median },
          {
            goal: { text: '≥ 0.85 × live', met: vsLive >= 0.85 },
            note: spread,
          },
        ),
        compared(
          `${machine} · ${shape.name} · worker vs naive`,
          worker.median,
          'events/CPU-s',
          { name: 'naive', value: naive.median },
          {
            goal: { text: '≥ 1.5 × naive', met: vsNaive >= 1.5 },
          },
        ),
      );
    }
  }
  return {
    id: 'cpu',
    title: '1. Runtime CPU (worker core on MemoryStore vs live actor vs naive)',
    figures,
    notes: [
      "Rates are events per second of this process's CPU time (user + system, all threads, so GC helper threads count): the box is shared and wall time also counts the time other processes held the cores. Wall-clock medians are in the notes.",
      `Each round: ${sizes.instances} instances × ${sizes.eventsPerInstance} events per machine, fresh store; ${sizes.warmup} warm-up + ${sizes.rounds} measured rounds, contenders interleaved and rotated; GC forced between rounds.`,
      'Batches run one after another; in a batch the groups run concurrently and the records of a group in order (every contender).',
      'Live actor: one actor per instance for the whole run, settled by the same per-region rule as the worker; never restores or saves. Naive: per event read → createActor(snapshot) → start → send → waitFor(hasTag resolve/reject or done) → getPersistedSnapshot → JSON.stringify → conditional write, on the same MemoryStore.',
      'The naive waitFor uses hasTag, a union over regions: for approval it returns while the finance budget check is still running (it does less work than a correct runtime, and persists an unsettled snapshot).',
      "MemoryStore encodes each item as DynamoStore does (the snapshot as a JSON string, gzipped above 4 KB, the item size rule) and keeps it as JSON, parsed on read; the naive item is a small record holding the snapshot's JSON string.",
      disagreements.length === 0
        ? 'Check: after the same stream, the worker and the naive baseline end in the same state value and context as the live actors, for every instance.'
        : `Check FAILED: ${disagreements.join('; ')}.`,
    ],
    durationMs: performance.now() - started,
  };
}
