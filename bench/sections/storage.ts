/**
 * §2 Storage calls per event: the real worker handler (`createWorkerHandler`) on the local stack's
 * dynalite, through a DynamoDB client that counts, fed Lambda-shaped FIFO batches of several shapes.
 */
import type { InstanceRecord } from '../../runtime/core/store.ts';
import { createWorkerHandler } from '../../runtime/aws/worker.ts';
import { registry } from '../../machines/index.ts';
import { countedLocalClients, itemBytes } from '../counting-dynamo.ts';
import { median } from '../harness.ts';
import { lambdaContext, sqsEvent, startIdleStack } from '../local.ts';
import type { BenchSizes } from '../options.ts';
import { compared, formatNumber, type Figure, type Section } from '../report.ts';
import {
  exampleMachines,
  instance,
  plan,
  shapeOf,
  steppingClock,
  streams,
  toRecords,
  type ExampleMachine,
  type Shape,
} from '../workloads.ts';
import { runWorker, workerCore } from './cpu.ts';

export const storageShapes = [shapeOf(1, 1), shapeOf(10, 1), shapeOf(5, 2), shapeOf(2, 5), shapeOf(1, 10)];

export interface ShapeFindings {
  readonly shape: Shape;
  readonly batches: number;
  readonly groupBatches: number;
  readonly events: number;
  readonly reads: number;
  readonly writes: number;
  readonly otherCalls: number;
  readonly batchMsMedian: number;
}

export interface MachineItem {
  /** Mean size of the written item, bytes (DynamoDB's rules). */
  readonly meanBytes: number;
  readonly maxBytes: number;
  /** Mean size of each instance's last write in the longest-running shape: the history is full by then. */
  readonly steadyBytes: number;
  /** Due-index writes per item write (timers entering, moving, leaving the sparse index). */
  readonly indexWritesPerWrite: number;
  /** List-index write units per item write (computed: the entry's KBs, twice when listSort moves). */
  readonly listIndexUnitsPerWrite: number;
  /** Steady-state item size with the worker core's `historyLimit` at these values (what-if; default 20). */
  readonly byHistoryLimit: Readonly<Record<number, number>>;
}

/** `historyLimit` values for the what-if item sizes. */
export const historyLimits = [20, 5, 1] as const;

/** The item DynamoStore would write for a record (snapshot as a JSON string; small snapshots are not gzipped). */
function storedItemBytes(record: InstanceRecord): number {
  return itemBytes({ ...record, snapshot: JSON.stringify(record.snapshot) } as unknown as Record<string, unknown>);
}

/** Runs 60 events of the machine's stream through the core with a history limit; the item size at the end. */
async function itemBytesWithHistory(machine: ExampleMachine, historyLimit: number): Promise<number> {
  const core = { ...workerCore(registry), historyLimit };
  await runWorker(core, toRecords(plan([instance(machine, 'history', streams[machine])], 60, shapeOf(1, 10))));
  const [record] = core.store.all();
  if (!record) throw new Error(`no ${machine} instance was stored`);
  return storedItemBytes(record);
}

export interface StorageFindings {
  readonly shapes: readonly ShapeFindings[];
  readonly items: Readonly<Record<ExampleMachine, MachineItem>>;
  /** Whether dynalite answered ReturnConsumedCapacity, and what it reported per call. */
  readonly capacity: { readonly honoured: boolean; readonly readUnitsPerRead: number; readonly writeUnitsPerWrite: number };
  /** Read/write units by DynamoDB's rules from the measured sizes, per call, for comparison. */
  readonly computed: { readonly readUnitsPerRead: number; readonly writeUnitsPerWrite: number };
}

export async function storageSection(sizes: BenchSizes['storage']): Promise<{ section: Section; findings: StorageFindings }> {
  const started = performance.now();
  const stack = await startIdleStack();
  const clients = countedLocalClients(stack.endpoints);
  const { counter } = clients;
  const shapes: ShapeFindings[] = [];
  const writes: { pk: string; bytes: number; indexWrites: number; listIndexUnits: number }[] = [];
  const readBytes: number[] = [];
  let consumedRead = 0;
  let consumedWrite = 0;
  let reported = 0;
  let retried = 0;
  try {
    const handler = createWorkerHandler({
      config: stack.config,
      registry,
      sqs: clients.sqs,
      dynamo: clients.document,
      now: steppingClock(),
    });
    for (const [index, shape] of storageShapes.entries()) {
      counter.reset();
      const durations: number[] = [];
      let batches = 0;
      for (const machine of exampleMachines) {
        const instances = Array.from({ length: shape.groups }, (_, g) => instance(machine, `storage-${index}-${g}`, streams[machine]));
        for (const records of toRecords(plan(instances, shape.recordsPerGroup * sizes.batchesPerShape, shape))) {
          const begun = performance.now();
          retried += (await handler(sqsEvent(records), lambdaContext())).batchItemFailures.length;
          durations.push(performance.now() - begun);
          batches += 1;
        }
      }
      const groupBatches = batches * shape.groups;
      const otherCalls = [...counter.calls]
        .filter(([command]) => command !== 'GetItem' && command !== 'PutItem')
        .reduce((sum, [, n]) => sum + n, 0);
      shapes.push({
        shape,
        batches,
        groupBatches,
        events: groupBatches * shape.recordsPerGroup,
        reads: counter.count('GetItem'),
        writes: counter.count('PutItem'),
        otherCalls,
        batchMsMedian: median(durations),
      });
      writes.push(...counter.writes);
      readBytes.push(...counter.reads);
      consumedRead += counter.consumedRead;
      consumedWrite += counter.consumedWrite;
      reported += counter.capacityReported;
    }
  } finally {
    clients.destroy();
    await stack.stop();
  }
  if (retried > 0) throw new Error(`The worker handed ${retried} records back on a clean stream; storage figures would be wrong.`);

  const longest = storageShapes.reduce(
    (best, shape, i) => (shape.recordsPerGroup > (storageShapes[best]?.recordsPerGroup ?? 0) ? i : best),
    0,
  );
  const byHistory = new Map<ExampleMachine, Record<number, number>>();
  for (const machine of exampleMachines) {
    const sizes: Record<number, number> = {};
    for (const limit of historyLimits) sizes[limit] = await itemBytesWithHistory(machine, limit);
    byHistory.set(machine, sizes);
  }
  const items = Object.fromEntries(
    exampleMachines.map((machine) => {
      const mine = writes.filter((w) => w.pk.startsWith(`${machine}/`));
      const last = new Map(mine.filter((w) => w.pk.startsWith(`${machine}/storage-${longest}-`)).map((w) => [w.pk, w.bytes]));
      return [
        machine,
        {
          meanBytes: mine.reduce((sum, w) => sum + w.bytes, 0) / Math.max(1, mine.length),
          steadyBytes: [...last.values()].reduce((sum, b) => sum + b, 0) / Math.max(1, last.size),
          maxBytes: Math.max(0, ...mine.map((w) => w.bytes)),
          indexWritesPerWrite: mine.reduce((sum, w) => sum + w.indexWrites, 0) / Math.max(1, mine.length),
          listIndexUnitsPerWrite: mine.reduce((sum, w) => sum + w.listIndexUnits, 0) / Math.max(1, mine.length),
          byHistoryLimit: byHistory.get(machine) ?? {},
        },
      ];
    }),
  ) as Record<ExampleMachine, MachineItem>;
  const totalReads = shapes.reduce((sum, s) => sum + s.reads, 0);
  const totalWrites = shapes.reduce((sum, s) => sum + s.writes, 0);
  const findings: StorageFindings = {
    shapes,
    items,
    capacity: {
      honoured: reported > 0,
      readUnitsPerRead: consumedRead / Math.max(1, totalReads),
      writeUnitsPerWrite: consumedWrite / Math.max(1, totalWrites),
    },
    computed: {
      readUnitsPerRead: readBytes.reduce((sum, b) => sum + Math.max(1, Math.ceil(b / 4096)), 0) / Math.max(1, readBytes.length),
      writeUnitsPerWrite: writes.reduce((sum, w) => sum + Math.max(1, Math.ceil(w.bytes / 1024)), 0) / Math.max(1, writes.length),
    },
  };
  return { section: storageSectionOf(findings, sizes, performance.now() - started), findings };
}

function storageSectionOf(findings: StorageFindings, sizes: BenchSizes['storage'], durationMs: number): Section {
  const figures: Figure[] = [];
  const single = findings.shapes.find((s) => s.shape.groups === 1 && s.shape.recordsPerGroup === 1);
  const msPerEventSingle = single ? single.batchMsMedian : Number.NaN;
  for (const s of findings.shapes) {
    const ideal = s.groupBatches;
    const met = s.reads === ideal && s.writes === ideal && s.otherCalls === 0;
    figures.push(
      compared(
        `${s.shape.name} · reads per group-batch`,
        s.reads / s.groupBatches,
        'GetItem',
        { name: 'goal', value: 1 },
        { goal: { text: '1 read per group per batch', met: s.reads === ideal } },
      ),
      compared(
        `${s.shape.name} · writes per group-batch`,
        s.writes / s.groupBatches,
        'PutItem',
        { name: 'goal', value: 1 },
        { goal: { text: '1 write per group per batch', met: s.writes === ideal } },
      ),
      compared(
        `${s.shape.name} · storage calls per event`,
        (s.reads + s.writes + s.otherCalls) / s.events,
        'calls',
        { name: '2 per group-batch', value: 2 / s.shape.recordsPerGroup },
        {
          goal: { text: '1 read + 1 write per group per batch, nothing else', met },
          note: `${s.batches} batches, ${s.events} events, ${s.reads} reads, ${s.writes} writes, ${s.otherCalls} other calls`,
        },
      ),
      compared(
        `${s.shape.name} · handler time per event (dynalite)`,
        s.batchMsMedian / (s.shape.groups * s.shape.recordsPerGroup),
        'ms',
        { name: '1 group × 1 record', value: msPerEventSingle },
        {
          note: `median batch ${formatNumber(s.batchMsMedian)} ms`,
        },
      ),
    );
  }
  const { capacity, computed } = findings;
  figures.push(
    compared(
      'capacity units per read (dynalite ConsumedCapacity)',
      capacity.readUnitsPerRead,
      'RCU',
      { name: 'computed from item size', value: computed.readUnitsPerRead },
      {
        note: capacity.honoured ? 'strongly consistent: 1 unit per 4 KB' : 'dynalite did not return ConsumedCapacity',
      },
    ),
    compared(
      'capacity units per write (dynalite ConsumedCapacity)',
      capacity.writeUnitsPerWrite,
      'WCU',
      { name: 'computed from item size', value: computed.writeUnitsPerWrite },
      {
        note: capacity.honoured ? 'table only: dynalite does not report the due index' : 'dynalite did not return ConsumedCapacity',
      },
    ),
  );
  for (const machine of exampleMachines) {
    const item = findings.items[machine];
    figures.push(
      compared(
        `${machine} · item size written`,
        item.meanBytes,
        'bytes',
        { name: '1 KB write unit', value: 1024 },
        {
          note: `steady state (history full) ${formatNumber(item.steadyBytes)} bytes, max ${formatNumber(item.maxBytes)}; due-index writes per item write ${formatNumber(item.indexWritesPerWrite)}, list-index units ${formatNumber(item.listIndexUnitsPerWrite)}`,
        },
      ),
    );
  }
  for (const machine of exampleMachines) {
    const sizes = findings.items[machine].byHistoryLimit;
    const byDefault = sizes[20] ?? Number.NaN;
    const units = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
    for (const limit of historyLimits.filter((l) => l !== 20)) {
      const bytes = sizes[limit] ?? Number.NaN;
      figures.push(
        compared(
          `${machine} · what-if historyLimit ${limit}: item size`,
          bytes,
          'bytes',
          { name: 'historyLimit 20 (default)', value: byDefault },
          {
            note: `${units(bytes)} WRU per write instead of ${units(byDefault)}`,
          },
        ),
      );
    }
  }
  return {
    id: 'storage',
    title: '2. Storage calls per event (real worker handler on dynalite)',
    figures,
    notes: [
      `Each shape: ${sizes.batchesPerShape} batches per example machine (4 machines), through createWorkerHandler on the local stack's dynalite; the first batch of each instance creates it (a read that misses, then a conditional create).`,
      'Counted by a middleware on the DynamoDB client (GetItem, PutItem, anything else); it also sets ReturnConsumedCapacity=TOTAL on GetItem/PutItem. ' +
        (capacity.honoured
          ? 'dynalite honours it for the table (it reports no index capacity, so index writes are computed from the items: due index 1 when an item enters or leaves the sparse index, 2 when its key moves; list index 1 per KB of the projected entry, twice when listSort moves — section 7 meters both on DynamoDB Local).'
          : 'dynalite did not honour it: capacity is computed from item sizes only.'),
      "Item sizes follow DynamoDB's rules (names + values; numbers ≈ digits/2 + 1; lists and maps 3 bytes + 1 per element).",
      'What-if history limits: the worker core (processBatch, MemoryStore) with `historyLimit` set, after 60 events; the size is that of the item DynamoStore would write. The history (20 entries of seq, type, outcome and an ISO time) is most of each item.',
      "Handler times are wall-clock on a shared box, with dynalite in the same process: they include the emulator's own CPU.",
    ],
    durationMs,
  };
}
