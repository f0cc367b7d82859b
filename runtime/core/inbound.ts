import type { SQSRecord } from 'aws-lambda';
import { redriveAttribute } from './resources.ts';

/**
 * The SQS edge: what the worker core needs of one record, read once. Everything past this point works on
 * {@link InboundRecord}s, never on `SQSRecord` attributes.
 */
export interface InboundRecord {
  readonly messageId: string;
  /** The MessageGroupId: the instance key, not checked yet (see parseInstanceKey). Empty when absent. */
  readonly groupId: string;
  /**
   * The SQS `SequenceNumber` as a big integer (128-bit: never a JS number), or `undefined` when the record
   * carries none that is usable (missing, empty, not decimal). Such a record cannot be deduplicated and is
   * dead-lettered with `invalid-sequence-number`, never applied.
   */
  readonly seq: bigint | undefined;
  /** The `SequenceNumber` as SQS wrote it (e.g. `00000000000000000005`), so that a sender can match it. */
  readonly sequenceNumber: string;
  readonly body: string;
  /** `ApproximateReceiveCount`; 1 when absent or unreadable. */
  readonly receiveCount: number;
  /** For an event redriven from the dead-letter queue: the letter's message id. */
  readonly redriveOf: string | undefined;
}

const decimal = /^\d{1,40}$/;

export function inboundOf(record: SQSRecord): InboundRecord {
  const raw = record.attributes.SequenceNumber ?? '';
  const receives = Number(record.attributes.ApproximateReceiveCount);
  return {
    messageId: record.messageId,
    groupId: record.attributes.MessageGroupId ?? '',
    seq: decimal.test(raw) ? BigInt(raw) : undefined,
    sequenceNumber: raw,
    body: record.body,
    receiveCount: Number.isInteger(receives) && receives >= 1 ? receives : 1,
    redriveOf: record.messageAttributes?.[redriveAttribute]?.stringValue?.slice(0, 128) || undefined,
  };
}
