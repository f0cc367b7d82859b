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
}

export const fullSizes: BenchSizes = {
  cpu: { instances: 10, eventsPerInstance: 100, warmup: 2, rounds: 8 },
  storage: { batchesPerShape: 20 },
  e2e: { instances: 100, eventsPerInstance: 100, pacedEvents: 2000, timeoutMs: 240_000 },
  coldStart: { runs: 5 },
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
};
