import { SendMessageCommand, type SendMessageCommandInput, type SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { deadLetterMessageAttributes, type DeadLetter } from '../../runtime/core/dead-letters.ts';
import { MemoryDeadLetterQueue } from '../../runtime/memory/memory-queues.ts';
import { SqsDeadLetterQueue, letterGroupId } from '../../runtime/aws/sqs-dead-letters.ts';
import { PermanentError, RetryableError } from '../../runtime/core/errors.ts';
import { isValidGroupId } from '../../runtime/core/instance-key.ts';

const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/000000000000/settle-events-dlq.fifo';

function letter(overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    body: '{"type":"PAY"}',
    groupId: 'payment/p1',
    sequenceNumber: '18000000000000000001',
    messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
    error: new PermanentError('schema-violation', "PAY needs an 'amount'.", { instanceKey: 'payment/p1' }),
    ...overrides,
  };
}

/** Stands in for an SQSClient: records what each command would have sent, or fails like SQS does. */
class FakeSqs {
  readonly commands: unknown[] = [];

  constructor(private readonly failure?: Error) {}

  async send(command: unknown): Promise<object> {
    this.commands.push(command);
    if (this.failure) throw this.failure;
    return { MessageId: 'dlq-1' };
  }

  get inputs(): SendMessageCommandInput[] {
    return this.commands.map((command) => (command as SendMessageCommand).input);
  }
}

function queueWith(fake: FakeSqs): SqsDeadLetterQueue {
  return new SqsDeadLetterQueue(queueUrl, fake as unknown as SQSClient);
}

describe('deadLetterMessageAttributes', () => {
  it('gives the error code, the reason, and where the record came from, as String attributes', () => {
    expect(deadLetterMessageAttributes(letter())).toEqual({
      'settle-error': { DataType: 'String', StringValue: 'schema-violation' },
      'settle-reason': { DataType: 'String', StringValue: "PAY needs an 'amount'." },
      'settle-group': { DataType: 'String', StringValue: 'payment/p1' },
      'settle-sequence-number': { DataType: 'String', StringValue: '18000000000000000001' },
      'settle-message-id': { DataType: 'String', StringValue: '059f36b4-87a3-44ab-83d2-661975830a7d' },
    });
  });

  it("writes '-' for an empty value, which SQS would refuse as an attribute", () => {
    const attributes = deadLetterMessageAttributes(
      letter({ groupId: '', sequenceNumber: '', error: new PermanentError('invalid-instance-key', '') }),
    );

    expect(attributes['settle-group']).toEqual({ DataType: 'String', StringValue: '-' });
    expect(attributes['settle-sequence-number']).toEqual({ DataType: 'String', StringValue: '-' });
    expect(attributes['settle-reason']).toEqual({ DataType: 'String', StringValue: '-' });
  });

  it('keeps the first 4096 characters of a long reason', () => {
    const reason = `${'r'.repeat(4096)}CUT`;

    const attributes = deadLetterMessageAttributes(letter({ error: new PermanentError('machine-error', reason) }));

    expect(attributes['settle-reason']?.StringValue).toBe('r'.repeat(4096));
  });
});

describe('SqsDeadLetterQueue', () => {
  it("sends the record's body to the DLQ in the record's own group, deduplicated by its message id, with the reason attached", async () => {
    const sqs = new FakeSqs();

    await queueWith(sqs).send(letter());

    expect(sqs.commands).toHaveLength(1);
    expect(sqs.commands[0]).toBeInstanceOf(SendMessageCommand);
    expect(sqs.inputs[0]).toEqual({
      QueueUrl: queueUrl,
      MessageBody: '{"type":"PAY"}',
      MessageGroupId: letterGroupId('059f36b4-87a3-44ab-83d2-661975830a7d'),
      MessageDeduplicationId: '059f36b4-87a3-44ab-83d2-661975830a7d',
      MessageAttributes: deadLetterMessageAttributes(letter()),
    });
  });

  it("sends '(empty body)' for an empty body, which SQS would refuse, and a one-character body as it is", async () => {
    const sqs = new FakeSqs();

    await queueWith(sqs).send(letter({ body: '' }));
    await queueWith(sqs).send(letter({ body: 'x' }));

    expect(sqs.inputs.map((input) => input.MessageBody)).toEqual(['(empty body)', 'x']);
  });

  it('puts each letter in a message group of its own, the same for a repeat, and keeps the instance in settle-group', async () => {
    const sqs = new FakeSqs();
    const groupIds = ['', 'counter/c 1', `counter/${'x'.repeat(130)}`, 'compteur/é', 'payment/p1'];

    for (const [index, groupId] of groupIds.entries()) await queueWith(sqs).send(letter({ groupId, messageId: `m-${index}` }));
    await queueWith(sqs).send(letter({ groupId: 'counter/c 1', messageId: 'm-1' }));

    const groups = sqs.inputs.map((input) => input.MessageGroupId ?? '');
    for (const group of groups) {
      expect(group).toMatch(/^letter-[0-9a-f]{40}$/);
      expect(isValidGroupId(group)).toBe(true);
    }
    expect(new Set(groups.slice(0, 5)).size).toBe(5);
    expect(groups[5]).toBe(groups[1]);
    expect(sqs.inputs[1]?.MessageAttributes?.['settle-group']?.StringValue).toBe('counter/c 1');
  });

  it('cuts a message id longer than SQS allows for a deduplication id to 128 characters', async () => {
    const sqs = new FakeSqs();
    const messageId = `${'m'.repeat(128)}-redrive`;

    await queueWith(sqs).send(letter({ messageId }));

    expect(sqs.inputs[0]?.MessageDeduplicationId).toBe('m'.repeat(128));
  });

  it('fails with a retryable dead-letter-unavailable when SQS refuses, naming the group and what to check', async () => {
    const refusal = new Error('The specified queue does not exist.');

    const sent = queueWith(new FakeSqs(refusal)).send(letter());

    const error = await sent.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({
      kind: 'retryable',
      code: 'dead-letter-unavailable',
      instanceKey: 'payment/p1',
      cause: refusal,
      message:
        'Could not move a record of payment/p1 to the dead-letter queue (The specified queue does not exist.); the record is retried. ' +
        "Check SETTLE_DLQ_URL and the worker's sqs:SendMessage grant.",
    });
  });
});

describe('MemoryDeadLetterQueue', () => {
  it('keeps every letter it is sent, in order', async () => {
    const queue = new MemoryDeadLetterQueue();
    const first = letter();
    const second = letter({ groupId: 'payment/p2', messageId: 'm-2' });

    await queue.send(first);
    await queue.send(second);

    expect(queue.letters).toEqual([first, second]);
  });
});
