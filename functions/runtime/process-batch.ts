import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import type { DeadLetterQueue } from './dead-letters.ts';
import { PermanentError, RetryableError, VersionConflictError, describeError, isPermanent } from './errors.ts';
import { parseMessage } from './event.ts';
import { InstanceSession, type Applied } from './instance.ts';
import { parseInstanceKey, type InstanceKey } from './instance-key.ts';
import type { MachineDefinition, MachineRegistry } from './registry.ts';
import type { HistoryEntry, InstanceRecord, InstanceStore } from './store.ts';
import { wakeShardOf } from './timers.ts';

/** One event that changed (or was recorded as ignored by) an instance, reported once it is saved. */
export interface AppliedEvent extends Applied {
  readonly instanceKey: string;
  readonly sequenceNumber: string;
  /** From taking the record to its settle, to 0.1 ms; the write comes after. */
  readonly durationMs: number;
}

export interface Logger {
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
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
  /** How many handled events each instance keeps in `history` (0: none). @default 20 */
  readonly historyLimit?: number;
  /** Re-reads after a version conflict before the group is left to SQS to retry. @default 2 */
  readonly conflictRetries?: number;
  readonly onApplied?: (event: AppliedEvent) => void;
  readonly onDeadLettered?: (record: SQSRecord, error: PermanentError) => void;
  readonly logger?: Logger;
}

const silent: Logger = { warn: () => undefined, error: () => undefined };

/**
 * Handles one SQS FIFO batch (DESIGN §3): records grouped by instance in arrival order, groups run
 * concurrently, the records of a group one after another on one restored actor, and one conditional
 * write per group. Returns the records SQS must deliver again, in Lambda's partial-batch shape.
 *
 * @param settleBudgetMs asked before each event: how long it may take to settle (Lambda time left minus a margin).
 */
export async function processBatch(
  records: readonly SQSRecord[],
  core: WorkerCore,
  settleBudgetMs: () => number,
): Promise<SQSBatchResponse> {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of records) {
    const groupId = record.attributes.MessageGroupId ?? '';
    const group = groups.get(groupId);
    if (group) group.push(record);
    else groups.set(groupId, [record]);
  }
  const failed = await Promise.all(
    [...groups].map(([groupId, group]) => processGroup(groupId, group, core, settleBudgetMs)),
  );
  return { batchItemFailures: failed.flat().map((itemIdentifier) => ({ itemIdentifier })) };
}

/** Returns the message ids to retry. Never throws. */
async function processGroup(
  groupId: string,
  records: readonly SQSRecord[],
  core: WorkerCore,
  budget: () => number,
): Promise<string[]> {
  let key: InstanceKey;
  let definition: MachineDefinition;
  try {
    key = parseInstanceKey(groupId || undefined);
    definition = lookUp(core.registry, key);
  } catch (error) {
    return deadLetterEach(records, error as PermanentError, core);
  }
  const retries = core.conflictRetries ?? 2;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await runGroup(key, definition, records, core, budget);
    } catch (error) {
      if (error instanceof VersionConflictError && attempt < retries) continue;
      (core.logger ?? silent).warn('The instance could not be read or saved; its records are retried or, on their last receive, dead-lettered', {
        instanceKey: key.key,
        error: describeError(error),
      });
      return lastReceiveOrRetry(key, records, error, core);
    }
  }
}

/**
 * After a group failed as a whole: a record on its last receive is dead-lettered here with the reason (SQS's
 * own redrive would carry none); the others go back to SQS. A failed write may still have landed (the
 * response was lost), so the instance is read again first: a record it already covers is acknowledged, never
 * dead-lettered, since a redriven copy would carry a new SequenceNumber and be applied twice.
 */
async function lastReceiveOrRetry(key: InstanceKey, records: readonly SQSRecord[], error: unknown, core: WorkerCore): Promise<string[]> {
  const verdicts = records.map((record) => ({ record, permanent: asPermanent(error, record, core.maxReceiveCount) }));
  if (verdicts.every(({ permanent }) => !permanent)) return records.map((record) => record.messageId);
  const handled = await core.store.read(key.key).then(
    (item) => (item ? BigInt(item.lastSeq) : -1n),
    () => undefined,
  );
  const failed: string[] = [];
  for (const { record, permanent } of verdicts) {
    if (handled !== undefined && sequenceOf(record) <= handled) continue; // saved after all
    if (!permanent) failed.push(record.messageId);
    else if (handled !== undefined) failed.push(...(await deadLetterEach([record], permanent, core)));
    else {
      const unsure = new PermanentError(
        permanent.code,
        `${permanent.message} The instance could not be read back either, so the event may already be applied: ` +
          "compare its settle-sequence-number with the instance's lastSeq before redriving it.",
        { instanceKey: key.key, cause: error },
      );
      failed.push(...(await deadLetterEach([record], unsure, core)));
    }
  }
  return failed;
}

/**
 * One attempt at a group: read, apply each new record, write. Throws when the read or the write fails;
 * the caller then tries again (a version conflict) or gives the records up to {@link lastReceiveOrRetry}.
 */
async function runGroup(
  key: InstanceKey,
  definition: MachineDefinition,
  records: readonly SQSRecord[],
  core: WorkerCore,
  budget: () => number,
): Promise<string[]> {
  const stored = await core.store.read(key.key);
  const lastSeq = stored ? BigInt(stored.lastSeq) : -1n;
  const fresh = records.filter((record) => sequenceOf(record) > lastSeq); // older ones: already applied (I2)

  let session: InstanceSession;
  try {
    session = InstanceSession.open({ definition, key, stored, now: core.now });
  } catch (error) {
    if (!isPermanent(error)) throw error;
    return deadLetterEach(fresh, error, core);
  }

  const history: HistoryEntry[] = [...(stored?.history ?? [])];
  const applied: AppliedEvent[] = [];
  const failed: string[] = [];
  let handledSeq = lastSeq;
  try {
    for (const [index, record] of fresh.entries()) {
      const seq = sequenceOf(record);
      // SQS never repeats a message inside one batch, but a replay tool or another event source can.
      if (seq <= handledSeq) continue;
      const started = performance.now();
      const at = new Date(core.now()).toISOString();
      try {
        const sequenceNumber = seq.toString();
        const result = await applyRecord(session, definition, key, record.body, sequenceNumber, budget());
        history.push({ seq: sequenceNumber, type: result.eventType, outcome: result.outcome, at });
        const durationMs = Math.round((performance.now() - started) * 10) / 10;
        applied.push({ ...result, instanceKey: key.key, sequenceNumber, durationMs });
      } catch (error) {
        const permanent = asPermanent(error, record, core.maxReceiveCount);
        if (!permanent) {
          failed.push(...fresh.slice(index).map((r) => r.messageId));
          (core.logger ?? silent).warn('Event failed; it and the rest of its group are retried', {
            instanceKey: key.key,
            sequenceNumber: seq.toString(),
            error: describeError(error),
          });
          break;
        }
        try {
          await core.deadLetters.send(deadLetterOf(record, permanent));
        } catch {
          failed.push(...fresh.slice(index).map((r) => r.messageId));
          break;
        }
        core.onDeadLettered?.(record, permanent);
        history.push({
          seq: seq.toString(),
          type: eventTypeOf(record.body),
          outcome: permanent.code === 'machine-error' ? 'error' : 'dead-lettered',
          at,
          error: permanent.code,
        });
      }
      handledSeq = seq;
    }

    const state = session.state;
    if (handledSeq > lastSeq && state) {
      const now = new Date(core.now()).toISOString();
      const last = history.at(-1);
      const record: InstanceRecord = {
        pk: key.key,
        machine: key.machine,
        ...state,
        version: (stored?.version ?? 0) + 1,
        lastSeq: handledSeq.toString(),
        outcome: last?.outcome,
        wakeAt: state.timers[0]?.fireAt,
        wakeShard: state.timers.length > 0 ? wakeShardOf(key.key, core.wakeShards) : undefined,
        history: history.slice(Math.max(0, history.length - (core.historyLimit ?? 20))),
        createdAt: stored?.createdAt ?? now,
        updatedAt: now,
      };
      await core.store.write(record, stored?.version);
    }
  } finally {
    session.stop();
  }
  for (const event of applied) core.onApplied?.(event);
  return failed;
}

async function applyRecord(
  session: InstanceSession,
  definition: MachineDefinition,
  key: InstanceKey,
  body: string,
  sequenceNumber: string,
  budgetMs: number,
): Promise<Applied> {
  const message = parseMessage(body, key.key);
  if (message.kind === 'wake') return session.wake(message.wakeAt, budgetMs);
  let problem: string | undefined;
  try {
    problem = definition.validateEvent?.(message.event);
  } catch (error) {
    const { name, message: text } = describeError(error);
    throw new PermanentError(
      'schema-violation',
      `validateEvent of machine '${key.machine}' threw ${name}: ${text} on event '${message.event.type}' for instance ${key.key}. ` +
        'Make it return a message for bad input instead of throwing, then redrive the event from the DLQ.',
      { instanceKey: key.key, cause: error },
    );
  }
  if (problem !== undefined) {
    throw new PermanentError(
      'schema-violation',
      `Event '${message.event.type}' for instance ${key.key} does not match machine '${key.machine}': ${problem}.`,
      { instanceKey: key.key },
    );
  }
  return session.apply(
    message.event,
    { instanceKey: key.key, sequenceNumber, idempotencyKey: `${key.key}#${sequenceNumber}` },
    budgetMs,
  );
}

function lookUp(registry: MachineRegistry, key: InstanceKey): MachineDefinition {
  const definition = Object.hasOwn(registry, key.machine) ? registry[key.machine] : undefined;
  if (definition) return definition;
  throw new PermanentError(
    'unknown-machine',
    `No machine named '${key.machine}' is registered (instance ${key.key}); known machines: ${Object.keys(registry).join(', ') || 'none'}. ` +
      'Fix the message group id, or add the machine to machines/index.ts and deploy.',
    { instanceKey: key.key },
  );
}

/**
 * A retryable failure on its last receive is dead-lettered by us, with its reason, rather than moved
 * silently by SQS. Errors that are not Settle's own (a bug, an SDK failure) are retried the same way.
 */
function asPermanent(error: unknown, record: SQSRecord, maxReceiveCount: number): PermanentError | undefined {
  if (isPermanent(error)) return error;
  const receives = Number(record.attributes.ApproximateReceiveCount);
  if (!(receives >= maxReceiveCount)) return undefined;
  const { name, message } = describeError(error);
  const code = error instanceof RetryableError ? error.code : name;
  return new PermanentError('retries-exhausted', `${message} Gave up after ${receives} receives (${code}).`, {
    instanceKey: error instanceof RetryableError ? error.instanceKey : undefined,
    cause: error,
  });
}

async function deadLetterEach(records: readonly SQSRecord[], error: PermanentError, core: WorkerCore): Promise<string[]> {
  for (const [index, record] of records.entries()) {
    try {
      await core.deadLetters.send(deadLetterOf(record, error));
      core.onDeadLettered?.(record, error);
    } catch {
      return records.slice(index).map((r) => r.messageId);
    }
  }
  return [];
}

function deadLetterOf(record: SQSRecord, error: PermanentError) {
  return {
    body: record.body,
    groupId: record.attributes.MessageGroupId ?? '',
    sequenceNumber: record.attributes.SequenceNumber ?? '',
    messageId: record.messageId,
    error,
  };
}

function sequenceOf(record: SQSRecord): bigint {
  const raw = record.attributes.SequenceNumber;
  // Standard queues have no sequence number; their records are rejected as not keyed (see parseInstanceKey).
  return raw && /^\d+$/.test(raw) ? BigInt(raw) : 0n;
}

function eventTypeOf(body: string): string {
  try {
    const type = (JSON.parse(body) as { type?: unknown }).type;
    return typeof type === 'string' ? type.slice(0, 128) : '(no type)';
  } catch {
    return '(not JSON)';
  }
}

