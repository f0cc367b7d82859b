import type { DeadLetter } from './dead-letters.ts';
import { PermanentError, describeError } from './errors.ts';
import type { InboundRecord } from './inbound.ts';
import { silentLogger } from './logger.ts';
import type { WorkerCore } from './process-batch.ts';
import { eventQueueDefinition } from './resources.ts';
import type { InstanceRecord, PendingLetter } from './store.ts';

/**
 * The one path to the dead-letter queue, and the outbox that makes "dead-lettered" a decision taken once
 * (docs/DESIGN.md, "The worker"): a letter decided while applying a group is saved in the instance's
 * `letters` by the group's write, sent after it, and forgotten by one more write once sent. A redelivered
 * record whose letter is still pending is sent again under the same deduplication id, never applied.
 */

/** How much of a reason the item keeps for a letter it has yet to send (the letter itself carries 4,096). */
export const maxStoredReasonLength = 2048;
/** A pending letter older than this can no longer be asked for: its record has left the events queue. */
export const letterRetentionMs = eventQueueDefinition().retentionPeriodSeconds * 1000;

/** The letters an item still has to send, less those whose records can no longer come back. */
export function pendingLetters(item: InstanceRecord | undefined, now: number): PendingLetter[] {
  return (item?.letters ?? []).filter((letter) => now - Date.parse(letter.at) < letterRetentionMs);
}

/** The letters to send again for redelivered records whose letter is pending. */
export function resends(records: readonly InboundRecord[], pending: readonly PendingLetter[], instanceKey: string): DeadLetter[] {
  const letters: DeadLetter[] = [];
  for (const record of records) {
    const saved = pending.find((letter) => letter.messageId === record.messageId);
    if (saved) letters.push(letterOf(record, new PermanentError(saved.code, saved.reason, { instanceKey })));
  }
  return letters;
}

/** A letter decided for `record`, as the item keeps it until it is sent. */
export function pendingLetterOf(record: InboundRecord, error: PermanentError, at: string): PendingLetter {
  return {
    messageId: record.messageId,
    seq: record.sequenceNumber,
    code: error.code,
    reason: error.message.slice(0, maxStoredReasonLength),
    at,
  };
}

/** The one way a record reaches the dead-letter queue. Returns the message ids of the letters not sent. */
export async function sendLetters(
  letters: readonly DeadLetter[],
  core: Pick<WorkerCore, 'deadLetters' | 'logger' | 'onDeadLettered'>,
): Promise<string[]> {
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

/**
 * Removes the letters just sent from the item's pending letters, in one more conditional write (only in a
 * batch that dead-lettered something). If that write fails, the records are retried before their last
 * receive: the repeat is sent again under the same deduplication id (dropped by SQS), then forgotten.
 * Returns the message ids to retry.
 */
export async function forgetSentLetters(
  item: InstanceRecord | undefined,
  letters: readonly DeadLetter[],
  failed: string[],
  lastReceive: ReadonlySet<string>,
  core: Pick<WorkerCore, 'store' | 'logger'>,
): Promise<string[]> {
  if (!item || item.letters.length === 0) return [];
  const sent = new Set(letters.map((letter) => letter.messageId).filter((id) => !failed.includes(id)));
  const remaining = item.letters.filter((letter) => !sent.has(letter.messageId));
  if (remaining.length === item.letters.length) return [];
  try {
    await core.store.write({ ...item, version: item.version + 1, letters: remaining }, item.version);
    return [];
  } catch (error) {
    (core.logger ?? silentLogger).warn('Dead letters were sent but could not be marked as sent; their records are retried', {
      instanceKey: item.pk,
      error: describeError(error),
    });
    return [...sent].filter((messageId) => !lastReceive.has(messageId));
  }
}

export function letterOf(record: InboundRecord, error: PermanentError): DeadLetter {
  return {
    body: record.body,
    groupId: record.groupId,
    sequenceNumber: record.sequenceNumber,
    messageId: record.messageId,
    error,
  };
}
