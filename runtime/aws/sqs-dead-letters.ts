import { createHash } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { deadLetterMessageAttributes, type DeadLetter, type DeadLetterQueue } from '../core/dead-letters.ts';
import { RetryableError, describeError } from '../core/errors.ts';
import { isValidGroupId } from '../core/instance-key.ts';

/** Sends dead letters to the FIFO DLQ, in the record's own group, deduplicated by its message id. */
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
          // An unparseable group id still needs a valid one here; the original is in the attributes.
          MessageGroupId: validGroupId(letter.groupId),
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

function validGroupId(groupId: string): string {
  if (isValidGroupId(groupId)) return groupId;
  return `invalid-${createHash('sha256').update(groupId).digest('hex').slice(0, 32)}`;
}
