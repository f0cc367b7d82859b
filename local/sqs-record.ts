/**
 * Turns an SQS `ReceiveMessage` result into the `SQSRecord` Lambda's SQS event source delivers:
 * camelCase fields, every system attribute as a string, message attributes as
 * `{ stringValue | binaryValue (base64), stringListValues: [], binaryListValues: [], dataType }`.
 */
import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { SQSMessageAttribute, SQSRecord, SQSRecordAttributes } from 'aws-lambda';

export interface EventSource {
  /** The queue's ARN, as `eventSourceARN`. */
  readonly queueArn: string;
}

export function toSqsRecord(message: Message, source: EventSource): SQSRecord {
  const { MessageId, ReceiptHandle, Body, MD5OfBody } = message;
  if (MessageId === undefined || ReceiptHandle === undefined || Body === undefined || MD5OfBody === undefined) {
    throw new Error(
      `SQS returned a message without ${['MessageId', 'ReceiptHandle', 'Body', 'MD5OfBody'].filter((k) => message[k as keyof Message] === undefined).join(', ')}.`,
    );
  }
  const record: SQSRecord = {
    messageId: MessageId,
    receiptHandle: ReceiptHandle,
    body: Body,
    attributes: recordAttributes(message.Attributes ?? {}),
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [name, messageAttribute(value)]),
    ),
    md5OfBody: MD5OfBody,
    eventSource: 'aws:sqs',
    eventSourceARN: source.queueArn,
    awsRegion: regionOf(source.queueArn),
  };
  if (message.MD5OfMessageAttributes) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  return record;
}

const recordAttributeNames = [
  'ApproximateReceiveCount',
  'SentTimestamp',
  'SenderId',
  'ApproximateFirstReceiveTimestamp',
  'SequenceNumber',
  'MessageGroupId',
  'MessageDeduplicationId',
  'AWSTraceHeader',
  'DeadLetterQueueSourceArn',
] as const satisfies readonly (keyof SQSRecordAttributes)[];

function recordAttributes(attributes: Partial<Record<string, string>>): SQSRecordAttributes {
  const result: Partial<Record<keyof SQSRecordAttributes, string>> = {};
  for (const name of recordAttributeNames) {
    const value = attributes[name];
    if (value !== undefined) result[name] = value;
  }
  // Lambda always carries these four; SQS gives them when asked for 'All'.
  return { ApproximateReceiveCount: '', SentTimestamp: '', SenderId: '', ApproximateFirstReceiveTimestamp: '', ...result };
}

function messageAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  const attribute: SQSMessageAttribute = { stringListValues: [], binaryListValues: [], dataType: value.DataType ?? 'String' };
  if (value.StringValue !== undefined) attribute.stringValue = value.StringValue;
  if (value.BinaryValue !== undefined) attribute.binaryValue = Buffer.from(value.BinaryValue).toString('base64');
  return attribute;
}

/** `arn:aws:sqs:<region>:<account>:<name>` → `<region>` */
export function regionOf(queueArn: string): string {
  const region = queueArn.split(':')[3];
  if (!region) throw new Error(`'${queueArn}' is not an SQS queue ARN.`);
  return region;
}
