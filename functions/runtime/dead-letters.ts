import { createHash } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { RetryableError, describeError, type PermanentError } from './errors.ts';
import { isValidGroupId } from './instance-key.ts';
import { deadLetterAttributes } from './resources.ts';

/** A record moved to the dead-letter queue, with the reason a person can act on. */
export interface DeadLetter {
  readonly body: string;
  readonly groupId: string;
  readonly sequenceNumber: string;
  readonly messageId: string;
  readonly error: PermanentError;
}

/** Settle's dead-letter port. */
export interface DeadLetterQueue {
  send(letter: DeadLetter): Promise<void>;
}

/** SQS message attributes of a dead letter: `settle-error` (the code), `settle-reason`, and where it came from. */
export function deadLetterMessageAttributes(letter: DeadLetter): Record<string, { DataType: 'String'; StringValue: string }> {
  const text = (value: string) => ({ DataType: 'String' as const, StringValue: value || '-' });
  return {
    [deadLetterAttributes.error]: text(letter.error.code),
    [deadLetterAttributes.reason]: text(letter.error.message.slice(0, 4096)),
    [deadLetterAttributes.group]: text(letter.groupId),
    [deadLetterAttributes.sequenceNumber]: text(letter.sequenceNumber),
    [deadLetterAttributes.messageId]: text(letter.messageId),
  };
}

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

/** Keeps dead letters in memory, for tests and benchmarks. */
export class MemoryDeadLetterQueue implements DeadLetterQueue {
  readonly letters: DeadLetter[] = [];

  async send(letter: DeadLetter): Promise<void> {
    this.letters.push(letter);
  }
}
