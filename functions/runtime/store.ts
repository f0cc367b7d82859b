import type { MachineState } from './instance.ts';
import type { Outcome } from './settled.ts';

/** One line of an instance's bounded event history. */
export interface HistoryEntry {
  readonly seq: string;
  readonly type: string;
  readonly outcome: Outcome | 'dead-lettered';
  /** ISO time at which the worker handled it. */
  readonly at: string;
  /** For a dead-lettered event: the `settle-error` code. */
  readonly error?: string;
}

/** Everything Settle stores about one instance: one item, read and written whole (DESIGN §4). */
export interface InstanceRecord extends MachineState {
  /** `<machine>/<instanceId>` */
  readonly pk: string;
  readonly machine: string;
  /** Optimistic-concurrency counter: every write is conditional on the version that was read. */
  readonly version: number;
  /** The last applied SQS `SequenceNumber`, as a decimal string (128-bit: compare as BigInt). */
  readonly lastSeq: string;
  /** Outcome of the last handled event. */
  readonly outcome: Outcome | 'dead-lettered' | undefined;
  /** Earliest timer `fireAt`, and the due-index shard; both absent when no timer is pending. */
  readonly wakeAt: number | undefined;
  readonly wakeShard: string | undefined;
  readonly history: readonly HistoryEntry[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** An instance with a timer due, as found in the due index. */
export interface DueInstance {
  readonly pk: string;
  readonly wakeAt: number;
}

/**
 * Settle's storage port. Adapters only move records: every rule (versions, sequence numbers, timers)
 * lives in the worker core.
 */
export interface InstanceStore {
  /** A strongly consistent read; `undefined` if the instance does not exist yet. */
  read(pk: string): Promise<InstanceRecord | undefined>;
  /**
   * Writes the whole record if the stored version is still `expectedVersion` (`undefined`: the instance must
   * not exist yet). Throws `VersionConflictError` otherwise; never overwrites a newer write.
   */
  write(record: InstanceRecord, expectedVersion: number | undefined): Promise<void>;
  /** Up to `limit` instances in one due-index shard whose earliest timer is due at `now` or before, earliest first. */
  findDue(shard: string, now: number, limit: number): Promise<DueInstance[]>;
}
