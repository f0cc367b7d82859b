import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { defaults } from './config.ts';
import type { DeadLetter, DeadLetterQueue } from './dead-letters.ts';
import { PermanentError, RetryableError, VersionConflictError, describeError, isPermanent } from './errors.ts';
import { maxEventBytes, parseMessage, shownType } from './event.ts';
import { inboundOf, type InboundRecord } from './inbound.ts';
import { buildRecord, encodeItem } from './item.ts';
import { silentLogger, type Logger } from './logger.ts';
import { forgetSentLetters, letterOf, pendingLetterOf, pendingLetters, resends, sendLetters } from './outbox.ts';
import { InstanceSession, type Applied, type MachineState } from './instance.ts';
import { parseInstanceKey, type InstanceKey } from './instance-key.ts';
import { maxOffloadedEventBytes, resolveBody, type PayloadStore } from './payloads.ts';
import { checkEventSchema, definitionOf, type MachineDefinition, type MachineRegistry } from './registry.ts';
import type { HistoryEntry, InstanceRecord, InstanceStore, PendingLetter } from './store.ts';
import type { WarmSessions } from './warm-sessions.ts';

/** One event that changed (or was recorded as ignored by) an instance, reported once it is saved. */
export interface AppliedEvent extends Applied {
  readonly instanceKey: string;
  /** The SQS `SequenceNumber`, as SQS wrote it. */
  readonly sequenceNumber: string;
  /** From taking the record to its settle, to 0.1 ms; the write comes after. */
  readonly durationMs: number;
}

export interface WorkerCore {
  readonly registry: MachineRegistry;
  readonly store: InstanceStore;
  readonly deadLetters: DeadLetterQueue;
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** Must equal the queue's redrive `maxReceiveCount`: on the last receive a retryable failure is dead-lettered with its reason. */
  readonly maxReceiveCount: number;
  readonly wakeShards: number;
  /** The payload bucket, where claim-checked events are read from (docs/DESIGN.md, "Large payloads"). @default none: pointers are refused */
  readonly payloads?: PayloadStore;
  /** How many handled events each instance keeps in `history` (0: none). @default defaults.historyLimit */
  readonly historyLimit?: number;
  /** The most one event may take to settle, within the batch's own budget. @default defaults.eventTimeoutMs */
  readonly eventTimeoutMs?: number;
  /** Re-reads after a version conflict before the group is left to SQS to retry. @default defaults.conflictRetries */
  readonly conflictRetries?: number;
  /**
   * Settled sessions kept between batches, so that an instance this worker saved last goes on without a restore.
   * @default none: every batch restores its instances
   */
  readonly warm?: WarmSessions;
  readonly onApplied?: (event: AppliedEvent) => void;
  /** Called once a dead letter is on the dead-letter queue. */
  readonly onDeadLettered?: (letter: DeadLetter) => void;
  readonly logger?: Logger;
}

/**
 * Handles one SQS FIFO batch (docs/DESIGN.md, "The worker"): records grouped by instance in arrival order,
 * groups run concurrently, the records of a group one after another on one restored actor, and one
 * conditional write per group. Returns the records SQS must deliver again, in Lambda's partial-batch shape.
 *
 * @param settleBudgetMs asked before each event: how long it may still take (Lambda time left minus a margin).
 *   Each event gets at most `core.eventTimeoutMs` of it, so one that hangs does not starve those behind it.
 */
export async function processBatch(
  records: readonly SQSRecord[],
  core: WorkerCore,
  settleBudgetMs: () => number,
): Promise<SQSBatchResponse> {
  const groups = new Map<string, InboundRecord[]>();
  for (const record of records) {
    const inbound = inboundOf(record);
    const group = groups.get(inbound.groupId);
    if (group) group.push(inbound);
    else groups.set(inbound.groupId, [inbound]);
  }
  const eventTimeoutMs = core.eventTimeoutMs ?? defaults.eventTimeoutMs;
  const budget = () => Math.max(0, Math.min(eventTimeoutMs, settleBudgetMs()));
  const failed = await Promise.all(
    [...groups].map(async ([groupId, group]) => fromFirstFailure(group, await processGroup(groupId, group, core, budget))),
  );
  return { batchItemFailures: failed.flat().map((itemIdentifier) => ({ itemIdentifier })) };
}

/**
 * A FIFO group is retried from its first failed record on: SQS redelivers in order, so every later record is
 * handed back too. Those already saved are skipped on redelivery (their sequence numbers are not above lastSeq).
 */
function fromFirstFailure(group: readonly InboundRecord[], failed: readonly string[]): string[] {
  if (failed.length === 0) return [];
  const retried = new Set(failed);
  const first = group.findIndex((record) => retried.has(record.messageId));
  return group.slice(first).map((record) => record.messageId);
}

/** Returns the message ids to retry. Never throws. */
async function processGroup(groupId: string, records: readonly InboundRecord[], core: WorkerCore, budget: () => number): Promise<string[]> {
  let key: InstanceKey;
  let definition: MachineDefinition;
  try {
    key = parseInstanceKey(groupId || undefined);
    definition = definitionOf(core.registry, key);
  } catch (error) {
    return sendLetters(
      records.map((record) => letterOf(record, error as PermanentError)),
      core,
    );
  }
  // A record without a usable SequenceNumber cannot be told apart from a redelivery: it is never applied.
  const unusable = records.filter((record) => record.seq === undefined);
  const usable = records.filter((record) => record.seq !== undefined);
  const failed =
    unusable.length === 0
      ? []
      : await sendLetters(
          unusable.map((record) => letterOf(record, invalidSequenceNumber(record, key))),
          core,
        );
  if (usable.length === 0) return failed;

  let careful = false;
  for (let conflicts = 0; ; ) {
    try {
      return failed.concat(await runGroup({ key, definition, records: usable, core, budget, careful }));
    } catch (error) {
      if (error instanceof VersionConflictError && conflicts < (core.conflictRetries ?? defaults.conflictRetries)) {
        conflicts += 1;
        continue;
      }
      // The group's item would be too large: run it again checking each event, so that only the event that
      // makes it too large is dead-lettered.
      if (!careful && isPermanent(error) && error.code === 'snapshot-too-large') {
        careful = true;
        continue;
      }
      (core.logger ?? silentLogger).warn(
        'The instance could not be read or saved; its records are retried or, on their last receive, dead-lettered',
        {
          instanceKey: key.key,
          error: describeError(error),
        },
      );
      return failed.concat(await lastReceiveOrRetry(key, usable, error, core));
    }
  }
}

interface GroupRun {
  readonly key: InstanceKey;
  readonly definition: MachineDefinition;
  /** Records that carry a usable sequence number, in arrival order. */
  readonly records: readonly InboundRecord[];
  readonly core: WorkerCore;
  readonly budget: () => number;
  /** Check the item's size after every event (slower; after a group's write was refused as too large). */
  readonly careful: boolean;
}

/**
 * One attempt at a group: read, apply each new record, write, then send the dead letters the write
 * recorded. Throws when the read or the write fails; the caller then tries again (a version conflict, an
 * item too large) or gives the records up to {@link lastReceiveOrRetry}. Nothing is dead-lettered before
 * the write that records it has succeeded, so a re-run can never apply an event already dead-lettered.
 */
async function runGroup({ key, definition, records, core, budget, careful }: GroupRun): Promise<string[]> {
  const stored = await core.store.read(key.key);
  const lastSeq = stored ? BigInt(stored.lastSeq) : -1n;
  const now = core.now();
  const pending = pendingLetters(stored, now);
  // A redelivered record whose letter was decided and saved but not confirmed sent: send it, never apply it.
  const letters: DeadLetter[] = resends(
    records.filter((record) => (record.seq as bigint) <= lastSeq),
    pending,
    key.key,
  );
  const fresh = records.filter((record) => (record.seq as bigint) > lastSeq); // older ones: already handled (I2)

  const history: HistoryEntry[] = [...(stored?.history ?? [])];
  const decided: PendingLetter[] = [];
  const applied: AppliedEvent[] = [];
  const failed: string[] = [];
  let handled: InboundRecord | undefined;
  /** The last record the instance's history records; its sequence number is the saved lastSeq. */
  let recorded: InboundRecord | undefined;
  // The record this group would save, from a settled state: checked after each event in careful mode, written at the end.
  const recordOf = (state: MachineState, lastSeqSaved: string): InstanceRecord =>
    buildRecord(key, state, {
      stored,
      history,
      letters: [...pending, ...decided],
      lastSeq: lastSeqSaved,
      now: core.now(),
      historyLimit: core.historyLimit ?? defaults.historyLimit,
      wakeShards: core.wakeShards,
    });
  // A session this worker kept after writing `stored` goes on as it is; any other is restored from the item.
  let session = careful ? undefined : core.warm?.take(key.key, stored, definition);
  let unopenable: PermanentError | undefined;
  try {
    if (stored?.unreadableSnapshot) throw stored.unreadableSnapshot;
    session ??= InstanceSession.open({
      definition,
      key,
      stored,
      now: core.now,
      acceptState: careful ? (state) => checkFits(core.store, recordOf(state, '0')) : undefined,
    });
  } catch (error) {
    if (!isPermanent(error)) throw error;
    unopenable = error; // every new record is dead-lettered with this reason, and the instance keeps its state
  }
  let written: InstanceRecord | undefined;
  try {
    for (const [index, record] of fresh.entries()) {
      // SQS never repeats a message inside one batch, but a replay tool or another event source can.
      if (handled && (record.seq as bigint) <= (handled.seq as bigint)) continue;
      const started = core.onApplied ? performance.now() : 0;
      const at = new Date(core.now()).toISOString();
      try {
        if (!session) throw unopenable;
        const result = await applyRecord(session, definition, key, record, core.payloads, budget());
        if (result) {
          history.push({ seq: record.sequenceNumber, type: result.eventType, outcome: result.outcome, at, ...redriven(record) });
          recorded = record;
          if (core.onApplied) {
            const durationMs = Math.round((performance.now() - started) * 10) / 10;
            const { eventType, outcome, from, to } = result;
            applied.push({ eventType, outcome, from, to, instanceKey: key.key, sequenceNumber: record.sequenceNumber, durationMs });
          }
        }
      } catch (error) {
        const permanent = asPermanent(error, record, core.maxReceiveCount);
        if (!permanent) {
          failed.push(...fresh.slice(index).map((r) => r.messageId));
          (core.logger ?? silentLogger).warn('Event failed; it and the rest of its group are retried', {
            instanceKey: key.key,
            sequenceNumber: record.sequenceNumber,
            error: describeError(error),
          });
          break;
        }
        // A wake-up that failed for good: its timer is dropped, so it is dead-lettered once, not woken forever.
        session?.discardFailedTimer();
        decided.push(pendingLetterOf(record, permanent, at));
        letters.push(letterOf(record, permanent));
        history.push({
          seq: record.sequenceNumber,
          type: eventTypeOf(record.body),
          outcome: permanent.code === 'machine-error' ? 'error' : 'dead-lettered',
          at,
          error: permanent.code,
          reason: permanent.message.slice(0, maxHistoryReasonLength),
          ...redriven(record),
        });
        recorded = record;
      }
      handled = record;
    }

    // A stored instance that cannot be opened keeps its state; a new one that never settled has none to save,
    // and its letters are sent without a write.
    const state = session?.state ?? stored;
    // Saved when something was recorded: an applied, ignored or dead-lettered event. A wake-up that found
    // nothing due records nothing: alone it causes no write, and a redelivery of it may deliver what is due by then.
    if (recorded && state) {
      written = await core.store.write(recordOf(state, recorded.sequenceNumber), stored?.version);
    }
  } finally {
    if (session && !(written && !careful && core.warm?.keep(key.key, written, definition, session))) session.stop();
  }
  for (const event of applied) core.onApplied?.(event);

  if (letters.length > 0) failed.push(...(await sendLetters(letters, core)));
  const saved = written ?? stored;
  if (saved && saved.letters.length > 0) {
    const lastReceive = new Set(records.filter((record) => record.receiveCount >= core.maxReceiveCount).map((record) => record.messageId));
    failed.push(...(await forgetSentLetters(saved, letters, failed, lastReceive, core)));
  }
  return failed;
}

/**
 * After a group failed as a whole: a record on its last receive is dead-lettered here with the reason (SQS's
 * own redrive would carry none); the others go back to SQS. A failed write may still have landed (the
 * response was lost), so the instance is read again first: a record it already covers is acknowledged, never
 * dead-lettered, since a redriven copy would carry a new SequenceNumber and be applied twice; its letter, if
 * that write decided one, is sent.
 */
async function lastReceiveOrRetry(
  key: InstanceKey,
  records: readonly InboundRecord[],
  error: unknown,
  core: WorkerCore,
): Promise<string[]> {
  const verdicts = records.map((record) => ({ record, permanent: asPermanent(error, record, core.maxReceiveCount) }));
  if (verdicts.every(({ permanent }) => !permanent)) return records.map((record) => record.messageId);
  const item = await core.store.read(key.key).then(
    (found) => ({ found }),
    () => undefined,
  );
  const handled = item ? (item.found ? BigInt(item.found.lastSeq) : -1n) : undefined;
  const failed: string[] = [];
  const letters: DeadLetter[] = [];
  for (const { record, permanent } of verdicts) {
    if (handled !== undefined && (record.seq as bigint) <= handled) {
      letters.push(...resends([record], item?.found?.letters ?? [], key.key));
      continue; // saved after all
    }
    if (!permanent) failed.push(record.messageId);
    else if (handled !== undefined) letters.push(letterOf(record, permanent));
    else {
      const unsure = new PermanentError(
        permanent.code,
        `${permanent.message} The instance could not be read back either, so the event may already be applied: ` +
          "compare its settle-sequence-number with the instance's lastSeq before redriving it.",
        { instanceKey: key.key, cause: error },
      );
      letters.push(letterOf(record, unsure));
    }
  }
  failed.push(...(await sendLetters(letters, core)));
  return failed;
}

async function applyRecord(
  session: InstanceSession,
  definition: MachineDefinition,
  key: InstanceKey,
  record: InboundRecord,
  payloads: PayloadStore | undefined,
  budgetMs: number,
): Promise<Applied | undefined> {
  const { body, offloaded } = await resolveBody(record.body, key.key, payloads);
  const message = parseMessage(body, key.key, offloaded ? maxOffloadedEventBytes : maxEventBytes);
  if (message.kind === 'wake') {
    // A wake-up that finds nothing due (a repeat, a stale or a forged one) is not an event of the instance:
    // nothing is recorded for it.
    const woken = await session.wake(budgetMs);
    return woken.outcome === 'ignored' ? undefined : woken;
  }
  checkEventSchema(definition, key, message.event);
  const { sequenceNumber } = record;
  return session.apply(message.event, { instanceKey: key.key, sequenceNumber, idempotencyKey: `${key.key}#${sequenceNumber}` }, budgetMs);
}

/** The size rule of the store the group is saved to: its own when it has one, the inline item's otherwise. */
function checkFits(store: InstanceStore, record: InstanceRecord): void {
  if (store.checkFits) store.checkFits(record);
  else encodeItem(record);
}

function invalidSequenceNumber(record: InboundRecord, key: InstanceKey): PermanentError {
  const got = record.sequenceNumber === '' ? 'none' : `'${record.sequenceNumber.slice(0, 64)}'`;
  return new PermanentError(
    'invalid-sequence-number',
    `The record ${record.messageId} for instance ${key.key} has SequenceNumber ${got}, not a decimal number, so it cannot be ` +
      'told apart from a redelivery and was not applied. Settle takes events from an SQS FIFO queue, which numbers every ' +
      'message: send the event there (a replay or test tool must copy the SequenceNumber SQS gave it).',
    { instanceKey: key.key },
  );
}

/**
 * A retryable failure on its last receive is dead-lettered by us, with its reason, rather than moved
 * silently by SQS. Errors that are not Settle's own (a bug, an SDK failure) are retried the same way.
 */
function asPermanent(error: unknown, record: InboundRecord, maxReceiveCount: number): PermanentError | undefined {
  if (isPermanent(error)) return error;
  if (record.receiveCount < maxReceiveCount) return undefined;
  const { name, message } = describeError(error);
  const code = error instanceof RetryableError ? error.code : name;
  return new PermanentError('retries-exhausted', `${message} Gave up after ${record.receiveCount} receives (${code}).`, {
    instanceKey: error instanceof RetryableError ? error.instanceKey : undefined,
    cause: error,
  });
}

function eventTypeOf(body: string): string {
  try {
    const type = (JSON.parse(body) as { type?: unknown }).type;
    return typeof type === 'string' ? shownType(type) : '(no type)';
  } catch {
    return '(not JSON)';
  }
}

/** How much of a dead letter's reason its history entry keeps: enough to act on, small enough for the item. */
export const maxHistoryReasonLength = 300;

function redriven(record: InboundRecord): { redriveOf?: string } {
  return record.redriveOf === undefined ? {} : { redriveOf: record.redriveOf };
}
