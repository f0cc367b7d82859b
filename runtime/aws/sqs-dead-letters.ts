import { createHash } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { deadLetterMessageAttributes, sqsMessageBytes, type DeadLetter, type DeadLetterQueue } from '../core/dead-letters.ts';
import { RetryableError, describeError } from '../core/errors.ts';
import { shownType } from '../core/event.ts';
import { letterObjectKey, type PayloadStore, pointerBody, sha256Hex } from '../core/payloads.ts';
import { deadLetterQueueDefinition } from '../core/resources.ts';

/**
 * Sends dead letters to the FIFO DLQ, deduplicated by the record's message id, each in a message group of its
 * own: SQS hands out a FIFO group's messages only one batch at a time, so letters sharing their instance's group
 * could not all be read by a browse that leaves them in place (`settle dlq list`). The instance is in
 * `settle-group`, the order within it in `settle-sequence-number`.
 *
 * A letter whose body and reason together would pass the DLQ's size limit (an event of nearly 256 KiB) has its
 * body put in the payload bucket, under its instance's event prefix, and travels as a claim check: every letter
 * reaches the DLQ with its reason, and a redrive of it is applied like any claim-checked event.
 *
 * The SQS client is made on the first letter: a worker rarely dead-letters, so a cold start does not resolve its
 * settings (credentials, region, endpoint). The module itself is statically imported: a dynamic import would make
 * the bundler wrap the SDK's shared modules and stop tree-shaking them (docs/PERFORMANCE.md §4).
 */
export class SqsDeadLetterQueue implements DeadLetterQueue {
  /** @param client made on the first letter from the SDK's standard settings when absent */
  constructor(
    private readonly queueUrl: string,
    private client?: SQSClient,
    private readonly payloads?: PayloadStore,
  ) {}

  async send(letter: DeadLetter): Promise<void> {
    const attributes = deadLetterMessageAttributes(letter);
    const body = await this.bodyOf(letter, attributes);
    try {
      this.client ??= new SQSClient({});
      await this.client.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: body,
          MessageGroupId: letterGroupId(letter.messageId),
          // A retried batch may dead-letter the same record again: SQS drops the repeat within 5 minutes.
          MessageDeduplicationId: letter.messageId.slice(0, 128),
          MessageAttributes: attributes,
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

  /** The body to send: the record's own, or a claim check for it when it would not fit with its reason. */
  private async bodyOf(letter: DeadLetter, attributes: ReturnType<typeof deadLetterMessageAttributes>): Promise<string> {
    const body = letter.body.length > 0 ? letter.body : '(empty body)';
    if (sqsMessageBytes(body, attributes) <= deadLetterQueueDefinition.maximumMessageSizeBytes) return body;
    if (!this.payloads) {
      throw new RetryableError(
        'dead-letter-unavailable',
        `A record of ${letter.groupId} is too large for the dead-letter queue with its reason, and this worker has no payload bucket to put it in; ` +
          'the record is retried. Set SETTLE_BUCKET (the CDK construct does).',
        { instanceKey: letter.groupId },
      );
    }
    const bytes = Buffer.from(body, 'utf8');
    const key = letterObjectKey(letter.groupId, letter.messageId);
    try {
      await this.payloads.put(key, bytes);
    } catch (error) {
      throw new RetryableError(
        'dead-letter-unavailable',
        `Could not put the body of a large dead letter of ${letter.groupId} in the payload bucket (${describeError(error).message}); the record is retried.`,
        { instanceKey: letter.groupId, cause: error },
      );
    }
    return pointerBody({ bucket: this.payloads.bucket, key, bytes: bytes.byteLength, sha256: sha256Hex(bytes) }, typeOf(body));
  }
}

/** The event type a body names, for the claim check's readable `type`; none for a body that is not an event. */
function typeOf(body: string): string | undefined {
  try {
    const type = (JSON.parse(body) as { type?: unknown } | null)?.type;
    return typeof type === 'string' ? shownType(type) : undefined;
  } catch {
    return undefined;
  }
}

/** A letter's own message group: stable for a repeat of the same letter, valid whatever the message id holds. */
export function letterGroupId(messageId: string): string {
  return `letter-${createHash('sha256').update(messageId).digest('hex').slice(0, 40)}`;
}
