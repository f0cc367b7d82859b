import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { RetryableError } from '../core/errors.ts';
import { wakeEvent, type WakeQueue, type WakeUp } from '../core/sweep.ts';

/** Sends wake-ups with SendMessageBatch, ten at a time. */
export class SqsWakeQueue implements WakeQueue {
  constructor(
    private readonly queueUrl: string,
    private readonly client: SQSClient = new SQSClient({}),
  ) {}

  async send(due: readonly WakeUp[]): Promise<void> {
    if (due.length === 0) return;
    const { Failed = [] } = await this.client.send(
      new SendMessageBatchCommand({
        QueueUrl: this.queueUrl,
        Entries: due.map((instance, index) => ({
          Id: String(index),
          MessageBody: JSON.stringify(wakeEvent(instance.wakeAt)),
          MessageGroupId: instance.pk,
          MessageDeduplicationId: instance.deduplicationId,
        })),
      }),
    );
    if (Failed.length > 0) {
      throw new RetryableError(
        'queue-unavailable',
        `Could not send ${Failed.length} wake-up(s): ${Failed.map((f) => `${f.Code}: ${f.Message}`).join('; ')}. The next sweep tries again.`,
      );
    }
  }
}
