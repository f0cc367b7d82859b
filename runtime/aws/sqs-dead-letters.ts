import { createHash } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { deadLetterMessageAttributes, type DeadLetter, type DeadLetterQueue } from '../core/dead-letters.ts';
import { RetryableError, describeError } from '../core/errors.ts';

/**
 * Sends dead letters to the FIFO DLQ, deduplicated by the record's message id, each in a message group of its
 * own: SQS hands out a FIFO group's messages only one batch at a time, so letters sharing their instance's group
 * could not all be read by a browse that leaves them in place (`settle dlq list`). The instance is in
 * `settle-group`, the order within it in `settle-sequence-number`.
 */
export class SqsDeadLetterQueue implements DeadLetterQueue {
  constructor(
    private readonly queueUrl: string,
    private readonly client: SQSClient = new SQSClient({}),
  ) {}

  async send(letter: DeadLetter): Promise<void> {
    try {
      await this.client.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: letter.body.length > 0 ? letter.body : '(empty body)',
          MessageGroupId: letterGroupId(letter.messageId),
          // A retried batch may dead-letter the same record again: SQS drops the repeat within 5 minutes.
          MessageDeduplicationId: letter.messageId.slice(0, 128),
          MessageAttributes: deadLetterMessageAttributes(letter),
        }),
      );
    } catch (error) {
      throw new RetryableError(
        'dead-letter-unavailable',
        `Could not move a record of ${letter.groupId} to the dead-letter queue (${describeError(error).message}); the record is retried. Check SETTLE_DLQ_URL and the worker's sqs:SendMessage grant.`,
        { instanceKey: letter.groupId, cause: error },
      );
    }
  }
}

/** A letter's own message group: stable for a repeat of the same letter, valid whatever the message id holds. */
export function letterGroupId(messageId: string): string {
  return `letter-${createHash('sha256').update(messageId).digest('hex').slice(0, 40)}`;
}
