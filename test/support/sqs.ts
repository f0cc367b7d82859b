import { randomUUID } from 'node:crypto';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface OutgoingEvent {
  /** MessageGroupId: the instance key. */
  readonly group: string;
  readonly body: string;
  readonly attributes?: Record<string, MessageAttributeValue>;
}

export interface SentEvent {
  readonly group: string;
  readonly body: string;
  readonly messageId: string;
  readonly sequenceNumber: string;
}

/** Sends the events in order (SendMessageBatch, 10 at a time), each with its own deduplication id. */
export async function sendEvents(sqs: SQSClient, queueUrl: string, events: readonly OutgoingEvent[]): Promise<SentEvent[]> {
  const sent: SentEvent[] = [];
  for (let start = 0; start < events.length; start += 10) {
    const chunk = events.slice(start, start + 10);
    const { Successful = [], Failed = [] } = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((event, index) => ({
          Id: String(index),
          MessageBody: event.body,
          MessageGroupId: event.group,
          MessageDeduplicationId: randomUUID(),
          MessageAttributes: event.attributes,
        })),
      }),
    );
    if (Failed.length > 0) throw new Error(`SendMessageBatch failed: ${JSON.stringify(Failed)}`);
    for (const entry of Successful) {
      const event = chunk[Number(entry.Id)];
      if (!event || !entry.MessageId || !entry.SequenceNumber)
        throw new Error(`Unexpected SendMessageBatch entry ${JSON.stringify(entry)}`);
      sent.push({ ...event, messageId: entry.MessageId, sequenceNumber: entry.SequenceNumber });
    }
  }
  return sent;
}

/** Visible and in-flight message counts, as SQS reports them. */
export async function queueCounts(sqs: SQSClient, queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return { visible: Number(Attributes.ApproximateNumberOfMessages), inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible) };
}

/** One receive that leaves the messages visible (VisibilityTimeout 0), with every attribute. */
export async function peek(sqs: SQSClient, queueUrl: string): Promise<Message[]> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  return Messages;
}
