import type { SQSRecord } from 'aws-lambda';

let messageCounter = 0;

/** A record shaped like the ones Lambda's SQS FIFO event source delivers. */
export function fifoRecord(
  groupId: string,
  sequenceNumber: bigint | number | string,
  body: unknown,
  options: { receiveCount?: number; messageId?: string } = {},
): SQSRecord {
  messageCounter += 1;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    messageId: options.messageId ?? `msg-${messageCounter}`,
    receiptHandle: `handle-${messageCounter}`,
    body: text,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(Date.now()),
      SenderId: 'AIDATEST',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
      SequenceNumber: String(sequenceNumber),
      MessageGroupId: groupId,
      MessageDeduplicationId: `dedup-${messageCounter}`,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:settle-events.fifo',
    awsRegion: 'us-east-1',
  };
}

/** Sequence numbers as SQS makes them: 20+ digit decimals beyond Number.MAX_SAFE_INTEGER. */
export function sequence(n: number): bigint {
  return 18_000_000_000_000_000_000n + BigInt(n);
}
