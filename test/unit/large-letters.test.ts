/**
 * Dead letters too large for the DLQ with their reason (runtime/aws/sqs-dead-letters.ts): their body goes to the
 * payload bucket and they travel as a claim check the worker and a redrive can follow.
 */
import type { MessageAttributeValue, SendMessageCommand, SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { letterGroupId, SqsDeadLetterQueue } from '../../runtime/aws/sqs-dead-letters.ts';
import { type DeadLetter, deadLetterMessageAttributes, sqsMessageBytes } from '../../runtime/core/dead-letters.ts';
import { PermanentError, RetryableError } from '../../runtime/core/errors.ts';
import { letterObjectKey, type PayloadStore, pointerOf, resolveBody, sha256Hex } from '../../runtime/core/payloads.ts';
import { deadLetterQueueDefinition } from '../../runtime/core/resources.ts';
import { MemoryPayloadStore } from '../../runtime/memory/memory-payloads.ts';

const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/000000000000/settle-events-dlq.fifo';
const limit = 262_144;

/** Stands in for an SQSClient: keeps the input of each command sent. */
function recordingSqs() {
  const inputs: SendMessageCommandInput[] = [];
  const sqs = {
    send: async (command: SendMessageCommand) => {
      inputs.push(command.input);
      return { MessageId: `dlq-${inputs.length}` };
    },
  } as unknown as SQSClient;
  return { sqs, inputs };
}

function letter(overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    body: '{"type":"ADD"}',
    groupId: 'blob/b1',
    sequenceNumber: '18000000000000000007',
    messageId: '4c1a2b3d-87a3-44ab-83d2-661975830a7d',
    error: new PermanentError('retries-exhausted', "Instance blob/b1 did not settle after event 'ADD'. Gave up after 5 receives.", {
      instanceKey: 'blob/b1',
    }),
    ...overrides,
  };
}

/** A letter whose body and attributes come to exactly `bytes` as SQS counts them, the body an ADD event padded with `fill`. */
function letterOfSize(bytes: number, fill = 'x', overrides: Partial<DeadLetter> = {}): DeadLetter {
  const base = letter(overrides);
  // As SQS counts an attribute: its name, its data type and its value, in UTF-8 bytes.
  const attributes = Object.entries(deadLetterMessageAttributes(base)).reduce(
    (sum, [name, { DataType, StringValue }]) =>
      sum + Buffer.byteLength(name) + Buffer.byteLength(DataType) + Buffer.byteLength(StringValue),
    0,
  );
  const empty = Buffer.byteLength(JSON.stringify({ type: 'ADD', pad: '' }));
  const padBytes = bytes - attributes - empty;
  const unit = Buffer.byteLength(fill);
  const pad = fill.repeat(Math.floor(padBytes / unit)) + 'x'.repeat(padBytes % unit);
  const sized = { ...base, body: JSON.stringify({ type: 'ADD', pad }) };
  expect(sqsMessageBytes(sized.body, deadLetterMessageAttributes(sized))).toBe(bytes);
  return sized;
}

function queueWith(payloads?: PayloadStore) {
  const { sqs, inputs } = recordingSqs();
  return { queue: new SqsDeadLetterQueue(queueUrl, sqs, payloads), inputs };
}

describe('SqsDeadLetterQueue: letters too large for the DLQ', () => {
  it('counts against the DLQ limit of 256 KiB, the body and each attribute’s name, type and value in bytes', () => {
    expect(deadLetterQueueDefinition.maximumMessageSizeBytes).toBe(limit);
    expect(sqsMessageBytes('abc', {})).toBe(3);
    expect(sqsMessageBytes('é', { 'settle-error': { DataType: 'String', StringValue: 'café' } })).toBe(2 + 12 + 6 + 5);
  });

  it('sends a letter of exactly the limit, body and attributes together, inline', async () => {
    const payloads = new MemoryPayloadStore();
    const { queue, inputs } = queueWith(payloads);
    const atLimit = letterOfSize(limit);

    await queue.send(atLimit);

    expect(inputs).toHaveLength(1);
    expect(inputs[0]?.MessageBody).toBe(atLimit.body);
    expect(payloads.objects.size).toBe(0);
  });

  it('puts the body of a letter one byte over in the bucket and sends a small claim check for it', async () => {
    const payloads = new MemoryPayloadStore('orders-payloads');
    const { queue, inputs } = queueWith(payloads);
    const over = letterOfSize(limit + 1);

    await queue.send(over);

    const key = letterObjectKey(over.groupId, over.messageId);
    expect([...payloads.objects.keys()]).toEqual([key]);
    expect(Buffer.from(payloads.objects.get(key) ?? []).toString('utf8')).toBe(over.body);
    const sent = inputs[0]?.MessageBody ?? '';
    expect(Buffer.byteLength(sent)).toBeLessThanOrEqual(1024);
    expect(JSON.parse(sent)).toEqual({
      type: 'ADD',
      settle: { payload: { bucket: 'orders-payloads', key, bytes: Buffer.byteLength(over.body), sha256: sha256Hex(over.body) } },
    });
    // What a redrive sends back is a claim check the worker accepts, and it stands for the original event.
    expect(pointerOf(sent, over.groupId)?.key).toBe(key);
    expect(await resolveBody(sent, over.groupId, payloads)).toEqual({ body: over.body, offloaded: true });
  });

  it('counts bytes, not characters: a body of multi-byte characters one byte over goes to the bucket', async () => {
    const payloads = new MemoryPayloadStore();
    const { queue, inputs } = queueWith(payloads);
    const atLimit = letterOfSize(limit, 'é');
    const over = letterOfSize(limit + 1, 'é', { messageId: 'another-message' });
    expect(over.body.length).toBeLessThan(limit / 2 + 1000);

    await queue.send(atLimit);
    await queue.send(over);

    expect(inputs[0]?.MessageBody).toBe(atLimit.body);
    expect([...payloads.objects.keys()]).toEqual([letterObjectKey(over.groupId, over.messageId)]);
    expect(await resolveBody(inputs[1]?.MessageBody ?? '', over.groupId, payloads)).toEqual({ body: over.body, offloaded: true });
  });

  it('keeps the attributes, the group and the deduplication id of an offloaded letter as they are for any other', async () => {
    const payloads = new MemoryPayloadStore();
    const { queue, inputs } = queueWith(payloads);
    const over = letterOfSize(limit + 1);

    await queue.send(over);

    const input = inputs[0] as SendMessageCommandInput;
    expect(input.QueueUrl).toBe(queueUrl);
    expect(input.MessageAttributes).toEqual(deadLetterMessageAttributes(over));
    const attribute = (name: string) => (input.MessageAttributes?.[name] as MessageAttributeValue | undefined)?.StringValue;
    expect(attribute('settle-error')).toBe('retries-exhausted');
    expect(attribute('settle-reason')).toBe(over.error.message);
    expect(attribute('settle-group')).toBe('blob/b1');
    expect(attribute('settle-sequence-number')).toBe('18000000000000000007');
    expect(attribute('settle-message-id')).toBe(over.messageId);
    expect(input.MessageGroupId).toBe(letterGroupId(over.messageId));
    expect(input.MessageDeduplicationId).toBe(over.messageId);
  });

  it('writes the same object under the same key when the same letter is sent twice', async () => {
    const payloads = new MemoryPayloadStore();
    const { queue, inputs } = queueWith(payloads);
    const over = letterOfSize(limit + 100);

    await queue.send(over);
    await queue.send(over);

    expect([...payloads.objects.keys()]).toEqual([letterObjectKey(over.groupId, over.messageId)]);
    expect(inputs[1]?.MessageBody).toBe(inputs[0]?.MessageBody);
    expect(inputs[1]?.MessageDeduplicationId).toBe(inputs[0]?.MessageDeduplicationId);
  });

  it('offloads the letter of a group id that names no instance under ~invalid/', async () => {
    const payloads = new MemoryPayloadStore();
    const { queue, inputs } = queueWith(payloads);
    const over = letterOfSize(limit + 1, 'x', { groupId: 'Not An Instance' });

    await queue.send(over);

    const [key] = [...payloads.objects.keys()];
    expect(key).toMatch(/^events\/~invalid\/[0-9a-f]{40}\/letter-[0-9a-f]{40}$/);
    expect(key).toBe(letterObjectKey('Not An Instance', over.messageId));
    expect(await resolveBody(inputs[0]?.MessageBody ?? '', 'Not An Instance', payloads)).toEqual({ body: over.body, offloaded: true });
  });

  it('gives the claim check the shown event type, and none for a body that is not an event', async () => {
    const payloads = new MemoryPayloadStore();
    const { queue, inputs } = queueWith(payloads);
    const longType = 'T'.repeat(300);
    const typed = letter({ messageId: 'long-type', body: JSON.stringify({ type: longType, pad: 'p'.repeat(limit) }) });
    const notJson = letter({ messageId: 'not-json', body: `not JSON ${'p'.repeat(limit)}` });

    await queue.send(typed);
    await queue.send(notJson);

    expect(JSON.parse(inputs[0]?.MessageBody ?? '').type).toBe(`${'T'.repeat(128)}…`);
    expect(JSON.parse(inputs[1]?.MessageBody ?? '')).not.toHaveProperty('type');
    expect(await resolveBody(inputs[1]?.MessageBody ?? '', notJson.groupId, payloads)).toEqual({ body: notJson.body, offloaded: true });
  });

  it('refuses, retryably and without sending, a letter too large when the worker has no bucket, naming SETTLE_BUCKET', async () => {
    const { queue, inputs } = queueWith(undefined);

    const error = await queue.send(letterOfSize(limit + 1)).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).code).toBe('dead-letter-unavailable');
    expect((error as RetryableError).instanceKey).toBe('blob/b1');
    expect((error as RetryableError).message).toContain('A record of blob/b1 is too large for the dead-letter queue with its reason');
    expect((error as RetryableError).message).toContain('Set SETTLE_BUCKET');
    expect(inputs).toEqual([]);
  });

  it('still sends a letter at the limit inline when the worker has no bucket', async () => {
    const { queue, inputs } = queueWith(undefined);
    const atLimit = letterOfSize(limit);

    await queue.send(atLimit);

    expect(inputs[0]?.MessageBody).toBe(atLimit.body);
  });

  it('refuses, retryably and without sending, a letter whose body could not be put in the bucket', async () => {
    const failing: PayloadStore = {
      bucket: 'orders-payloads',
      put: () => Promise.reject(new RetryableError('payload-store-unavailable', 'Could not put s3://orders-payloads/x')),
      get: async () => undefined,
      supersede: async () => undefined,
      remove: async () => undefined,
    };
    const { queue, inputs } = queueWith(failing);

    const error = await queue.send(letterOfSize(limit + 1)).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).code).toBe('dead-letter-unavailable');
    expect((error as RetryableError).message).toContain('Could not put the body of a large dead letter of blob/b1 in the payload bucket');
    expect(inputs).toEqual([]);
  });
});
