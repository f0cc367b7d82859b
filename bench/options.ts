/** Sizes of a run. `quick` is for the smoke test: every section runs, on tiny inputs. */
export interface BenchSizes {
  readonly cpu: { readonly instances: number; readonly eventsPerInstance: number; readonly warmup: number; readonly rounds: number };
  readonly storage: { readonly batchesPerShape: number };
  readonly e2e: {
    readonly instances: number;
    readonly eventsPerInstance: number;
    readonly pacedEvents: number;
    readonly timeoutMs: number;
  };
  readonly coldStart: { readonly runs: number };
  readonly scale: {
    readonly snapshotKb: readonly number[];
    readonly snapshotInstances: number;
    readonly snapshotEventsPerInstance: number;
    readonly memoryInstances: readonly number[];
    readonly memoryEvents: number;
    readonly dynaliteInstances: readonly number[];
    readonly dynaliteEvents: number;
  };
  /** Per shape and per table (with and without the list index): instances of each example machine, events each. */
  readonly listIndex: { readonly instancesPerMachine: number; readonly eventsPerInstance: number };
  /** Approvals written into the table, and measured openings of the machine view (after one warm-up). */
  readonly dashboard: { readonly instances: number; readonly runs: number };
  /** The offload path beside the inline one: snapshots and events of these sizes, rounds per contender. */
  readonly payloads: {
    /** Snapshot sizes, gzipped KiB: saved and restored inline and offloaded, alternately. */
    readonly snapshotKib: readonly number[];
    /** One snapshot of this many MiB of JSON, offloaded only (it cannot be inline). */
    readonly largeSnapshotMib: number;
    readonly snapshotRounds: number;
    /** Event sizes, KiB: sent inline and by claim check, alternately (both fit SQS). */
    readonly eventKib: readonly number[];
    /** Event sizes, KiB, by claim check only (over SQS's 256 KiB). */
    readonly largeEventKib: readonly number[];
    readonly eventRounds: number;
    readonly largeRounds: number;
    /** Untimed rounds before the measured ones, per size. */
    readonly warmup: number;
  };
}

export const fullSizes: BenchSizes = {
  cpu: { instances: 10, eventsPerInstance: 100, warmup: 2, rounds: 8 },
  storage: { batchesPerShape: 20 },
  e2e: { instances: 100, eventsPerInstance: 100, pacedEvents: 2000, timeoutMs: 240_000 },
  coldStart: { runs: 15 },
  scale: {
    snapshotKb: [1, 10, 60, 100, 300],
    snapshotInstances: 10,
    snapshotEventsPerInstance: 20,
    memoryInstances: [1, 100, 1_000, 10_000, 100_000],
    memoryEvents: 3000,
    dynaliteInstances: [1, 1_000, 10_000],
    dynaliteEvents: 500,
  },
  listIndex: { instancesPerMachine: 5, eventsPerInstance: 40 },
  dashboard: { instances: 10_000, runs: 5 },
  payloads: {
    snapshotKib: [16, 64, 200, 350],
    largeSnapshotMib: 5,
    snapshotRounds: 31,
    eventKib: [100, 250],
    largeEventKib: [1024, 5120],
    eventRounds: 21,
    largeRounds: 9,
    warmup: 2,
  },
};

export const quickSizes: BenchSizes = {
  cpu: { instances: 2, eventsPerInstance: 6, warmup: 1, rounds: 2 },
  storage: { batchesPerShape: 2 },
  e2e: { instances: 4, eventsPerInstance: 3, pacedEvents: 8, timeoutMs: 60_000 },
  coldStart: { runs: 1 },
  scale: {
    snapshotKb: [1, 100],
    snapshotInstances: 2,
    snapshotEventsPerInstance: 2,
    memoryInstances: [1, 50],
    memoryEvents: 20,
    dynaliteInstances: [1, 30],
    dynaliteEvents: 10,
  },
  listIndex: { instancesPerMachine: 1, eventsPerInstance: 3 },
  dashboard: { instances: 60, runs: 1 },
  payloads: {
    snapshotKib: [64],
    largeSnapshotMib: 1,
    snapshotRounds: 2,
    eventKib: [100],
    largeEventKib: [1024],
    eventRounds: 2,
    largeRounds: 1,
    warmup: 1,
  },
};
