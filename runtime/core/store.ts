import type { PermanentCode, PermanentError } from './errors.ts';
import type { ObjectRef } from './payloads.ts';
import type { MachineState } from './instance.ts';
import type { Outcome } from './settled.ts';

/** One line of an instance's bounded event history. */
export interface HistoryEntry {
  /** The SQS `SequenceNumber` of the event, as SQS wrote it. */
  readonly seq: string;
  /** The event type, cut to 128 characters; for a wake-up, the types of the timers it delivered. */
  readonly type: string;
  readonly outcome: Outcome | 'dead-lettered';
  /** ISO time at which the worker handled it. */
  readonly at: string;
  /** For a dead-lettered event: the `settle-error` code. */
  readonly error?: string;
  /** For a dead-lettered event: the start of its `settle-reason` (the letter carries all of it). */
  readonly reason?: string;
  /** For a redriven event: the message id of the dead letter it was sent again from (`settle-redrive-of`). */
  readonly redriveOf?: string;
}

/**
 * A dead letter decided and saved with the instance, whose sending is not yet confirmed: the outbox that
 * makes "dead-lettered" a decision taken once. The write that saves it is the commit point; the letter is
 * sent after it, and removed from the item once sent. A redelivered record whose letter is still here is
 * sent again (same deduplication id), never applied.
 */
export interface PendingLetter {
  readonly messageId: string;
  /** The SQS `SequenceNumber` of the record, as SQS wrote it. */
  readonly seq: string;
  readonly code: PermanentCode;
  readonly reason: string;
  /** ISO time of the decision; a letter older than the events queue's retention can never be asked for again. */
  readonly at: string;
}

/** Everything Settle stores about one instance: one item, read and written whole (docs/DESIGN.md, "Item layout"). */
export interface InstanceRecord extends MachineState {
  /** `<machine>/<instanceId>` */
  readonly pk: string;
  readonly machine: string;
  /** Optimistic-concurrency counter: every write is conditional on the version that was read. */
  readonly version: number;
  /** The last handled SQS `SequenceNumber`, as SQS wrote it (128-bit: compare as BigInt). */
  readonly lastSeq: string;
  /** Outcome of the last handled event. */
  readonly outcome: Outcome | 'dead-lettered' | undefined;
  /** Earliest timer `fireAt`, and the due-index shard; both absent when no timer is pending. */
  readonly wakeAt: number | undefined;
  readonly wakeShard: string | undefined;
  readonly history: readonly HistoryEntry[];
  /** Dead letters decided but not yet confirmed sent (usually none). */
  readonly letters: readonly PendingLetter[];
  readonly createdAt: string;
  readonly updatedAt: string;
  /**
   * The payload-bucket object holding the stored item's snapshot, when it is offloaded (docs/DESIGN.md, "Large
   * payloads"): set when read. A write compares its snapshot's hash with it, to keep the object or replace it.
   */
  readonly snapshotRef?: ObjectRef;
  /**
   * Set when read, never stored: why the offloaded snapshot could not be read (its object is missing or not the
   * one written). `snapshot` is then null; the item keeps its pointer, and the worker dead-letters the
   * instance's events with this reason, recording each in the history.
   */
  readonly unreadableSnapshot?: PermanentError;
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
   * not exist yet). Throws `VersionConflictError` otherwise; never overwrites a newer write. Returns the record
   * as stored (its `snapshotRef` is where the snapshot went).
   */
  write(record: InstanceRecord, expectedVersion: number | undefined): Promise<InstanceRecord>;
  /** Throws the `snapshot-too-large` error {@link write} would, without writing. @default the inline rule, encodeItem */
  checkFits?(record: InstanceRecord): void;
  /** Up to `limit` instances in one due-index shard whose earliest timer is due at `now` or before, earliest first. */
  findDue(shard: string, now: number, limit: number): Promise<DueInstance[]>;
}
