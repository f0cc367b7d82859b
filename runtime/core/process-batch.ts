import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { defaults } from './config.ts';
import type { DeadLetter, DeadLetterQueue } from './dead-letters.ts';
import { PermanentError, RetryableError, VersionConflictError, describeError, isPermanent } from './errors.ts';
import { parseMessage, shownType } from './event.ts';
import { inboundOf, type InboundRecord } from './inbound.ts';
import { buildRecord, encodeItem } from './item.ts';
import { silentLogger, type Logger } from './logger.ts';
import { InstanceSession, type Applied } from './instance.ts';
import { parseInstanceKey, type InstanceKey } from './instance-key.ts';
import type { MachineDefinition, MachineRegistry } from './registry.ts';
import { eventQueueDefinition } from './resources.ts';
import type { HistoryEntry, InstanceRecord, InstanceStore, PendingLetter } from './store.ts';

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
  /** How many handled events each instance keeps in `history` (0: none). @default defaults.historyLimit */
  readonly historyLimit?: number;
  /** The most one event may take to settle, within the batch's own budget. @default defaults.eventTimeoutMs */
  readonly eventTimeoutMs?: number;
  /** Re-reads after a version conflict before the group is left to SQS to retry. @default defaults.conflictRetries */
  readonly conflictRetries?: number;
  readonly onApplied?: (event: AppliedEvent) => void;
  /** Called once a dead letter is on the dead-letter queue. */
  readonly onDeadLettered?: (letter: DeadLetter) => void;
  readonly logger?: Logger;
}

/** How much of a reason the item keeps for a letter it has yet to send (the letter itself carries 4,096). */
const maxStoredReasonLength = 2048;
/** A pending letter older than this can no longer be asked for: its record has left the events queue. */
const letterRetentionMs = eventQueueDefinition().retentionPeriodSeconds * 1000;

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
    definition = lookUp(core.registry, key);
  } catch (error) {
    return sendLetters(
      records.map((record) => letterOf(record, error as PermanentError)),
      core,
    );
  }
  // A record without a usable SequenceNumber cannot be told apart from a redelivery: it is never applied.
  const unusable = records.filter((record) => record.seq === undefined);
  const usable = records.filter((record) => record.seq !== undefined);
  const failed = await sendLetters(
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
  const pending = (stored?.letters ?? []).filter((letter) => now - Date.parse(letter.at) < letterRetentionMs);
  const letters: DeadLetter[] = [];
  // A redelivered record whose letter was decided and saved but not confirmed sent: send it, never apply it.
  for (const record of records) {
    const saved = (record.seq as bigint) <= lastSeq ? pending.find((letter) => letter.messageId === record.messageId) : undefined;
    if (saved) letters.push(letterOf(record, new PermanentError(saved.code, saved.reason, { instanceKey: key.key })));
  }
  const fresh = records.filter((record) => (record.seq as bigint) > lastSeq); // older ones: already handled (I2)

  const history: HistoryEntry[] = [...(stored?.history ?? [])];
  const decided: PendingLetter[] = [];
  const applied: AppliedEvent[] = [];
  const failed: string[] = [];
  let handled: InboundRecord | undefined;
  /** The last record the instance's history records; its sequence number is the saved lastSeq. */
  let recorded: InboundRecord | undefined;
  let session: InstanceSession | undefined;
  let unopenable: PermanentError | undefined;
  try {
    session = InstanceSession.open({
      definition,
      key,
      stored,
      now: core.now,
      acceptState: careful
        ? (state) =>
            encodeItem(
              buildRecord(key, state, {
                stored,
                history,
                letters: [...pending, ...decided],
                lastSeq: '0',
                now: core.now(),
                ...limits(core),
              }),
            )
        : undefined,
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
      const started = performance.now();
      const at = new Date(core.now()).toISOString();
      try {
        if (!session) throw unopenable;
        const result = await applyRecord(session, definition, key, record, budget());
        if (result) {
          history.push({ seq: record.sequenceNumber, type: result.eventType, outcome: result.outcome, at });
          recorded = record;
          const durationMs = Math.round((performance.now() - started) * 10) / 10;
          applied.push({ ...result, instanceKey: key.key, sequenceNumber: record.sequenceNumber, durationMs });
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
        decided.push({
          messageId: record.messageId,
          seq: record.sequenceNumber,
          code: permanent.code,
          reason: permanent.message.slice(0, maxStoredReasonLength),
          at,
        });
        letters.push(letterOf(record, permanent));
        history.push({
          seq: record.sequenceNumber,
          type: eventTypeOf(record.body),
          outcome: permanent.code === 'machine-error' ? 'error' : 'dead-lettered',
          at,
          error: permanent.code,
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
      written = buildRecord(key, state, {
        stored,
        history,
        letters: [...pending, ...decided],
        lastSeq: recorded.sequenceNumber,
        now: core.now(),
        ...limits(core),
      });
      await core.store.write(written, stored?.version);
    }
  } finally {
    session?.stop();
  }
  for (const event of applied) core.onApplied?.(event);

  failed.push(...(await sendLetters(letters, core)));
  const lastReceive = new Set(records.filter((record) => record.receiveCount >= core.maxReceiveCount).map((record) => record.messageId));
  await forgetSentLetters(written ?? stored, letters, failed, lastReceive, core);
  return failed;
}

/**
 * Removes the letters just sent from the item's pending letters, in one more conditional write (only in a
 * batch that dead-lettered something). If that write fails, the records are retried before their last
 * receive: the repeat is sent again under the same deduplication id (dropped by SQS), then forgotten.
 */
async function forgetSentLetters(
  item: InstanceRecord | undefined,
  letters: readonly DeadLetter[],
  failed: string[],
  lastReceive: ReadonlySet<string>,
  core: WorkerCore,
): Promise<void> {
  if (!item || item.letters.length === 0) return;
  const sent = new Set(letters.map((letter) => letter.messageId).filter((id) => !failed.includes(id)));
  const remaining = item.letters.filter((letter) => !sent.has(letter.messageId));
  if (remaining.length === item.letters.length) return;
  try {
    await core.store.write({ ...item, version: item.version + 1, letters: remaining }, item.version);
  } catch (error) {
    (core.logger ?? silentLogger).warn('Dead letters were sent but could not be marked as sent; their records are retried', {
      instanceKey: item.pk,
      error: describeError(error),
    });
    failed.push(...[...sent].filter((messageId) => !lastReceive.has(messageId)));
  }
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
      const saved = item?.found?.letters.find((letter) => letter.messageId === record.messageId);
      if (saved) letters.push(letterOf(record, new PermanentError(saved.code, saved.reason, { instanceKey: key.key })));
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
  budgetMs: number,
): Promise<Applied | undefined> {
  const message = parseMessage(record.body, key.key);
  if (message.kind === 'wake') {
    // A wake-up that finds nothing due (a repeat, a stale or a forged one) is not an event of the instance:
    // nothing is recorded for it.
    const woken = await session.wake(budgetMs);
    return woken.outcome === 'ignored' ? undefined : woken;
  }
  const type = shownType(message.event.type);
  let problem: string | undefined;
  try {
    problem = definition.validateEvent?.(message.event);
  } catch (error) {
    const { name, message: text } = describeError(error);
    throw new PermanentError(
      'schema-violation',
      `validateEvent of machine '${key.machine}' threw ${name}: ${text} on event '${type}' for instance ${key.key}. ` +
        'Make it return a message for bad input instead of throwing, then redrive the event from the DLQ.',
      { instanceKey: key.key, cause: error },
    );
  }
  if (problem !== undefined) {
    throw new PermanentError(
      'schema-violation',
      `Event '${type}' for instance ${key.key} does not match machine '${key.machine}': ${problem}.`,
      { instanceKey: key.key },
    );
  }
  const { sequenceNumber } = record;
  return session.apply(message.event, { instanceKey: key.key, sequenceNumber, idempotencyKey: `${key.key}#${sequenceNumber}` }, budgetMs);
}

function limits(core: WorkerCore): { historyLimit: number; wakeShards: number } {
  return { historyLimit: core.historyLimit ?? defaults.historyLimit, wakeShards: core.wakeShards };
}

function lookUp(registry: MachineRegistry, key: InstanceKey): MachineDefinition {
  const definition = Object.hasOwn(registry, key.machine) ? registry[key.machine] : undefined;
  if (definition) return definition;
  throw new PermanentError(
    'unknown-machine',
    `No machine named '${key.machine}' is registered (instance ${key.key}); known machines: ${Object.keys(registry).join(', ') || 'none'}. ` +
      'Fix the message group id, or add the machine to the registry your worker is built with and deploy.',
    { instanceKey: key.key },
  );
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

/** The one way a record reaches the dead-letter queue. Returns the message ids of the letters not sent. */
async function sendLetters(letters: readonly DeadLetter[], core: WorkerCore): Promise<string[]> {
  for (const [index, letter] of letters.entries()) {
    try {
      await core.deadLetters.send(letter);
    } catch (error) {
      (core.logger ?? silentLogger).warn('The dead-letter queue refused a letter; its record is retried', {
        messageId: letter.messageId,
        error: describeError(error),
      });
      return letters.slice(index).map((unsent) => unsent.messageId);
    }
    core.onDeadLettered?.(letter);
  }
  return [];
}

function letterOf(record: InboundRecord, error: PermanentError): DeadLetter {
  return {
    body: record.body,
    groupId: record.groupId,
    sequenceNumber: record.sequenceNumber,
    messageId: record.messageId,
    error,
  };
}

function eventTypeOf(body: string): string {
  try {
    const type = (JSON.parse(body) as { type?: unknown }).type;
    return typeof type === 'string' ? shownType(type) : '(no type)';
  } catch {
    return '(not JSON)';
  }
}
