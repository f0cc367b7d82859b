import type { PermanentError } from './errors.ts';
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

/** A message's size as SQS counts it against its limit: the body, and each attribute's name, type and value. */
export function sqsMessageBytes(body: string, attributes: Record<string, { DataType: string; StringValue?: string }>): number {
  let bytes = Buffer.byteLength(body, 'utf8');
  for (const [name, { DataType, StringValue }] of Object.entries(attributes)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(DataType) + Buffer.byteLength(StringValue ?? '');
  }
  return bytes;
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
